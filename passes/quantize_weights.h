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
#pragma once
#include "passes/pass.h"

namespace edgepack {

class QuantizeWeights : public Pass {
 public:
  PassResult run(Model& model, const PassOptions& options, PassContext& context) override;
};

PassInfo quantize_weights_info();

// Raises the model's ai.onnx opset to `opset` (at most 21, at least its own): converts the ops
// whose form changed (Reduce* axes attribute -> input at 18, Split num_outputs at 18), and throws
// InputError naming a node whose meaning changed otherwise. Also raises the IR version to what
// the opset needs (10 for 21). No-op when the model is already there.
void raise_opset(Model& model, int64_t opset);

}  // namespace edgepack
