// Weight-only quantization of one MatMul/Gemm weight to INT8 or INT4: round-to-nearest (RTN)
// and GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers"). Activations stay float; a runtime dequantizes the weight (ONNX
// DequantizeLinear, or a fused kernel such as onnxruntime's MatMulNBits).
// The functions take and return plain tensors, no IR: the quantize-weights pass calls them, and
// so can a streaming quantizer working on one weight at a time.
// Layout: the weight is [K, N] (input dim first, as MatMul's B); groups run along K, so a group
// of `group_size` consecutive input rows shares one scale per output column.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace edgepack {

struct WeightQuantSpec {
  int bits = 8;                 // 8 or 4
  int64_t group_size = 0;       // 0 = one scale per output column; else rows per group (divides K)
  bool symmetric = true;        // else asymmetric with an integer zero point per group

  int64_t qmin() const { return -(int64_t{1} << (bits - 1)); }       // -128 / -8
  int64_t qmax() const { return (int64_t{1} << (bits - 1)) - 1; }    // 127 / 7
  // Groups along K of a weight with K input rows (1 per channel).
  int64_t groups(int64_t k) const { return group_size > 0 ? k / group_size : 1; }
  // InputError when bits is not 4/8 or the group size does not divide K (`what` names the weight).
  void check(int64_t k, const std::string& what) const;
};

struct QuantizedWeight {
  at::Tensor values;        // int8 [K, N]: in [qmin, qmax] of the spec (int4 values held in int8)
  at::Tensor scales;        // float [G, N], G = K / group_size (1 per channel)
  at::Tensor zero_points;   // int8 [G, N] when asymmetric; undefined when symmetric (zero)

  // (values - zero_point) * scale, float [K, N].
  at::Tensor dequantize() const;
};

// Round-to-nearest (half to even). Symmetric scale max|w| / qmax per group, so every element is
// within scale / 2 of its dequantized value; asymmetric spans [min(w, 0), max(w, 0)] over all
// 2^bits levels. `w_in_by_out` is float [K, N].
QuantizedWeight quantize_rtn(const at::Tensor& w_in_by_out, const WeightQuantSpec& spec);

struct GptqOptions {
  double damp = 0.01;          // added to H's diagonal, as a fraction of its mean diagonal
  int64_t block_size = 128;    // columns per lazy batch update (raised to a multiple of the group)
};

// GPTQ: quantizes input row by input row (in order, act-order off) and spreads each row's
// rounding error over the rows not yet quantized, weighted by the inverse Hessian, which
// minimises ||X W - X W_q||^2 over the calibration inputs X. `hessian` is [K, K]
// (2 X^T X / samples, see HessianAccumulator); rows whose input never varied (zero diagonal)
// are zeroed. A group's scale is computed from the error-updated weights when the group
// starts, as in the reference implementation. With H = identity this equals quantize_rtn.
QuantizedWeight quantize_gptq(const at::Tensor& w_in_by_out, const at::Tensor& hessian, const WeightQuantSpec& spec,
                              const GptqOptions& options = {});

// H = 2 X^T X / n over the rows of every batch of a layer's input (any leading dims, last dim K),
// accumulated in double.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t k);
  void add(const at::Tensor& x);
  at::Tensor hessian() const;      // float64 [K, K]
  int64_t rows() const { return rows_; }

 private:
  at::Tensor sum_;                 // X^T X
  int64_t rows_ = 0;
};

// Bytes the quantized weight takes in an ONNX file: packed values (two int4 per byte), float
// scales and packed zero points.
int64_t quantized_bytes(const QuantizedWeight& q, const WeightQuantSpec& spec);

}  // namespace edgepack
