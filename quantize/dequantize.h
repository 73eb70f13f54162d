// dequantize: the float equivalent of an already-quantized model (QDQ or QOperator ONNX), so
// that quantize can re-quantize it and prune/distill can read its weights.
//   before: X -> Q -> DQ -> Conv(DQ(W int8, s_w), DQ(B int32, s_x*s_w)) -> Q -> DQ -> Y
//           X -> QLinearConv(x_q, s_x, z_x, W int8, s_w, z_w, s_y, z_y, B int32) -> y_q
//   after:  X -> Conv(W', B') -> Y
//           x_q -> DQ(s_x, z_x) -> Conv(W', B') -> Q(s_y, z_y) -> y_q
// with W'[c] = (W[c] - z_w[c]) * s_w[c] and B'[c] = B[c] * s_x * s_w[c] (QLinearMatMul: the
// same per column of B, the matrix operand).
// Steps: QLinearConv / QLinearMatMul become DequantizeLinear -> Conv / MatMul -> QuantizeLinear;
// a QuantizeLinear whose every reader is a DequantizeLinear with the same scale and zero point
// is dropped with them (the activation's rounding is removed; a DequantizeLinear that is a graph
// output passes its name to the float value; a quantized graph output, whose QuantizeLinear
// has no DequantizeLinear after it, and a graph input's DequantizeLinear stay); DequantizeLinear
// of constants is left to
// fold-constants. The weights keep their INT8 rounding: re-quantizing them loses nothing more
// at the same scales, but the float model they came from is not recovered.
// Dynamic quantization (DynamicQuantizeLinear, ConvInteger, MatMulInteger: onnxruntime's
// quantize_dynamic) computes scales at run time from each input; its float model cannot be
// rebuilt from the graph, so the pass refuses it with the op that says so.
#pragma once
#include "passes/pass.h"

namespace edgepack {

struct DequantizeStats {
  int dequantized_layers = 0;    // QLinearConv / QLinearMatMul rewritten
  int removed_qdq_pairs = 0;     // activation QuantizeLinear nodes dropped with their DequantizeLinear readers
};

// QLinear*, Integer, DynamicQuantizeLinear and QuantizeLinear/DequantizeLinear nodes in `model`,
// by op type (empty for a float model).
std::map<std::string, int> quantized_ops(const Model& model);

// Throws InputError for dynamically quantized models (see above).
DequantizeStats dequantize(Model& model);

// What quantize does first: when `model` holds quantized ops, says so on `context.log`, takes
// its float equivalent (dequantize, then fold-constants and fold-bn) and returns true.
bool dequantize_for_requantization(Model& model, PassContext& context);

PassInfo dequantize_info();

}  // namespace edgepack
