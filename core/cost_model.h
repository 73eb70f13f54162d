// Cost model: what a model asks of a device (parameters, multiply-accumulates, weight and
// activation bytes) and a lower bound on its latency on a target profile.
//
// Counting rules (docs/targets.md repeats them):
// - Constants are initializers and the outputs of nodes whose inputs are all constants
//   (Constant, ConstantOfShape, DequantizeLinear of an initializer ...). Such "constant nodes"
//   are folded away on export: they cost nothing at run time and are not in the op histogram.
// - params: elements of the constant inputs of a runtime node, each constant counted once, at
//   its first runtime consumer. Integer-index types (int64, bool) are shapes, axes and indices,
//   not weights, and are not counted.
// - MACs: Conv out_elems * prod(W.shape[1:]) (= Cin/group * prod(kernel)); ConvTranspose
//   in_elems * prod(W.shape[1:]); Gemm and (batched) MatMul out_elems * K. Every other op
//   counts 0: its cost is its memory traffic, which the bandwidth bound covers. The integer
//   forms count the same: QLinearConv and ConvInteger as Conv, QLinearMatMul and MatMulInteger
//   as MatMul. LSTM / GRU / RNN: T*N * (elements of W + elements of R) (each step of each
//   sequence meets every input and recurrent weight once, in every direction).
// - Integer layers: weighted layers (MACs > 0) that compute in integers: QLinearConv,
//   QLinearMatMul, ConvInteger, MatMulInteger, and Conv/ConvTranspose/Gemm/MatMul whose weight
//   is a DequantizeLinear of a constant (QDQ, which runtimes fuse into integer kernels).
// - Stored weight bytes: the initializers as the file holds them (int8 weights 1 byte each).
// - FP32 bytes: 4 per parameter. INT8 bytes estimate: 1 per element of a constant of rank >= 2
//   (kernels, matrices, embeddings), 4 per element of a rank < 2 constant (biases and scales stay
//   int32/float).
// - Activations are the runtime values (graph inputs and node outputs that are not constants).
//   Peak live activation bytes: walking the nodes in order, a value is live from its production
//   (graph inputs: from the start) to its last use (graph outputs: to the end).
// Shapes come from one run of the executor on zeros (unknown dims = 1), so they hold for models
// whose weights are computed by constant nodes too.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"
#include "core/targets.h"

namespace edgepack {

struct NodeCost {
  std::string name;                                // node name, or its first output when unnamed
  std::string op;                                  // op type, "domain::op" outside ai.onnx
  bool constant = false;                           // a constant node (see above)
  int64_t params = 0;
  int64_t macs = 0;
  int64_t fp32_bytes = 0;
  int64_t int8_bytes = 0;
  int64_t activation_elems = 0;                    // runtime inputs + outputs, elements
  bool integer = false;                            // an integer layer (see above)
  std::vector<std::vector<int64_t>> output_shapes; // one per output; empty for an omitted output
};

struct CostTotals {
  int64_t params = 0;
  int64_t macs = 0;
  int64_t fp32_bytes = 0;
  int64_t int8_bytes = 0;
  int64_t peak_activation_bytes = 0;               // at the dtypes the model computes in
  int64_t peak_activation_elems = 0;
  int64_t stored_weight_bytes = 0;                 // initializers at their stored types
  int runtime_nodes = 0;
  int constant_nodes = 0;
  int weighted_layers = 0;                         // runtime nodes with MACs > 0
  int integer_layers = 0;                          // of those, integer layers
  std::map<std::string, int> op_histogram;         // runtime nodes per op
};

struct ModelCost {
  std::vector<NodeCost> nodes;                     // graph order
  CostTotals totals;
  // What the figures assume, one line each, e.g. "input 'x' dim 0 (N) taken as 1".
  std::vector<std::string> assumptions;
};

// Runs the model once on zeros to learn every shape (see above). Errors of that run propagate.
ModelCost analyze_model(const Model& model);

// Fp16: weights and activations at 2 bytes, computed at the profile's fp16 rate (int8 / 2 when
// it gives none; the fp32 rate on a target that does not list fp16).
enum class Precision { Int8, Fp16, Fp32 };
const char* to_string(Precision p);
// "int8" / "fp16" / "fp32"; InputError otherwise.
Precision parse_precision(const std::string& s);

struct EstimateOptions {
  Precision precision = Precision::Int8;
  // Fraction of the peak compute rate a real kernel reaches. Peaks are marketing maxima
  // (sparse, "equivalent", several engines added up); 0.5 is a generous sustained rate, so the
  // estimate stays a lower bound while not crediting the full peak.
  double efficiency = 0.5;
};

struct CostEstimate {
  std::string target;                  // profile id
  Precision precision = Precision::Int8;
  double tops = 0;                     // compute rate used, before efficiency
  std::string tops_figure;             // which figure it came from, e.g. "int8 dense"
  std::string tops_confidence;
  double bandwidth_gbps = 0;
  std::string bandwidth_confidence;
  double efficiency = 0;
  double latency_ms = 0;               // sum over nodes of max(compute, memory) time
  double compute_ms = 0;               // the compute bound alone, summed
  double memory_ms = 0;                // the bandwidth bound alone, summed
  double overhead_ms = 0;              // runtime nodes x the target's node_overhead_us
  std::string bound;                   // "compute" or "bandwidth": which one the latency mostly is
  // The brief's argument: weights stream from DRAM once per inference.
  double max_inferences_per_s = 0;     // bandwidth / weight bytes
  int64_t weight_bytes = 0;
  int64_t peak_activation_bytes = 0;
  int64_t memory_bytes = 0;            // weights + peak activations
  int64_t ram_bytes = 0;               // ram_mb MiB
  bool fits = false;
};

// Per node: max(2*MACs / (tops*1e12*efficiency), bytes / (bandwidth*1e9)) + node_overhead_us
// where bytes = weight bytes + activation elements, both at `precision` (int8: 1 byte per
// activation element; fp32: 4), and the overhead is the target's fixed per-node cost (0 when the
// profile has none: the built-ins). The INT8 rate is dense_int8_tops(); FP32 uses fp32_tops, or a quarter of the INT8 rate
// (a SIMD lane holds 4x as many int8 values) when the profile has none.
CostEstimate estimate_cost(const ModelCost& cost, const TargetProfile& target, const EstimateOptions& options = {});

// JSON with the field names above (for `inspect --json`, manifests and reports).
void to_json(nlohmann::json& j, const NodeCost& n);
void to_json(nlohmann::json& j, const CostTotals& t);
void to_json(nlohmann::json& j, const CostEstimate& e);

}  // namespace edgepack
