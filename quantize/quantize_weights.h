// quantize-weights: weight-only INT8/INT4 quantization of MatMul/Gemm (activations stay float).
//   before: X -> MatMul(X, W fp32 [K, N]) -> Y
//   after:  X -> MatMul(X, DequantizeLinear(W_q int8|int4, scale[, zero_point])) -> Y
// Per output channel (group=0: 1-D scale, `axis`) or per group of `group` input rows (opset 21
// block-wise: `axis` + `block_size`, scale [K/group, N]). Rounding: round-to-nearest, or GPTQ with
// a Hessian 2 X^T X / n per layer input, accumulated in one pass of the FP32 model over the
// calibration data (quantize/weight_only.h). INT4 and block-wise scales need ai.onnx opset 21 and
// IR 10: the pass raises the model (Reduce* axes become inputs, Split gets num_outputs) and refuses
// ops whose meaning changed since the model's opset. format=matmulnbits writes onnxruntime's
// com.microsoft MatMulNBits instead (4 bits, a group size of 16 or more, a power of two).
// The per-weight steps are public so that a streaming quantizer (quantize/stream_quantize.h) writes
// the same graph one weight at a time: weight_targets, then for each weight weight_in_by_out ->
// quantize_rtn -> rewrite_quantized_weight, with raise_opsets_for once.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "quantize/weight_only.h"

namespace edgepack {

// The pass's options as written (bits, group ...); weight_only_settings() checks and resolves them.
struct QuantizeWeightsOptions {
  int64_t bits = 8;
  int64_t group = 0;
  std::string method = "rtn";
  bool symmetric = true;
  std::string format = "qdq";
  double damp = 0.01;
  std::vector<std::string> exclude;
};

const OptionTable<QuantizeWeightsOptions>& quantize_weights_options();
PassInfo quantize_weights_info();

// The pass's options, checked (InputError for bits, format and damp that do not go together).
struct WeightOnlySettings {
  WeightQuantSpec spec;
  bool gptq = false;
  GptqOptions gptq_options;
  bool matmulnbits = false;          // com.microsoft MatMulNBits instead of DequantizeLinear
  std::set<std::string> exclude;     // node names or op types kept in FP32

  bool excludes(const Node& node) const { return exclude.count(node.name) || exclude.count(node.op_type); }
};
WeightOnlySettings weight_only_settings(const QuantizeWeightsOptions& options);

// The pass, on a model whose constants are folded.
PassResult quantize_weights(Model& model, const QuantizeWeightsOptions& options, PassContext& context);

// A weight the pass quantizes: a 2-D float initializer read as B by MatMul, or by Gemm without
// transA.
struct WeightTarget {
  std::string weight;
  bool transposed = false;            // Gemm transB=1: the weight is stored [N, K]
  std::vector<std::string> inputs;    // the activation each reader multiplies by it (GPTQ's Hessians)
  std::string reader;                 // the first reader's label, for messages
};
// `node`'s weight, or nullopt when it has none the pass can quantize.
std::optional<WeightTarget> weight_target(const Graph& g, const Node& node);
// The distinct weights of the graph's non-excluded readers, in the order of their first reader.
// Reads shapes only, no weight data: InputError for a K the group does not divide, a weight read
// both transposed and not, or a Gemm MatMulNBits cannot express.
std::vector<WeightTarget> weight_targets(const Graph& g, const WeightOnlySettings& settings);
// The target's weight as [K, N] (a view of the initializer); InputError when it holds NaN or Inf.
at::Tensor weight_in_by_out(const Graph& g, const WeightTarget& target);
// Puts `q` in place of the target's weight for each of its non-excluded readers:
// DequantizeLinear(W_quantized, W_scale[, W_zero_point]) -> W_dequantized inserted before the first
// reader (in the weight's own layout, INT4 values typed in value_info), or MatMulNBits reading
// W_nbits, W_nbits_scale. Drops the FP32 initializer once nothing reads it. Returns the names of
// the initializers it added.
std::vector<std::string> rewrite_quantized_weight(Graph& g, const WeightTarget& target, const QuantizedWeight& q,
                                                  const WeightOnlySettings& settings);
// What the rewritten graph needs: ai.onnx opset 21 for INT4 or block-wise DequantizeLinear
// (raise_opset), com.microsoft for MatMulNBits. Call before the first rewrite.
void raise_opsets_for(Model& model, const WeightOnlySettings& settings);

// Raises the model's ai.onnx opset to `opset` (at most 21, at least its own): converts the ops
// whose form changed (Reduce* axes attribute -> input at 18, Split num_outputs at 18), and throws
// InputError naming a node whose meaning changed otherwise. Also raises the IR version to what
// the opset needs (10 for 21). No-op when the model is already there.
void raise_opset(Model& model, int64_t opset);

}  // namespace edgepack
