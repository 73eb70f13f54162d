// convert-fp16: FP32 -> FP16 weights and activations, for runtimes that run half precision
// natively (TensorRT on Jetson, GPU and NPU delegates): half the file and the memory traffic,
// no calibration data.
//   before: X(f32) -> Conv(W f32, B f32) -> Relu -> Y(f32)
//   after:  X(f32) -> Cast(to=FLOAT16) -> Conv(W f16, B f16) -> Relu -> Cast(to=FLOAT) -> Y(f32)
// with keep-io=true (the default), so a caller feeds and reads the same types as before;
// keep-io=false declares the float inputs and outputs FLOAT16 instead.
// What changes:
//   - every FLOAT initializer becomes FLOAT16, rounded to nearest even; a magnitude above
//     65504 (FP16's largest finite value) saturates there and is counted (`saturated_weights`);
//   - Cast(to=FLOAT) becomes Cast(to=FLOAT16), ConstantOfShape's FLOAT value a FLOAT16 one;
//   - inputs whose type ONNX fixes to float stay FLOAT: Resize's and Upsample's `scales`;
//   - `exclude` (node names or op types, '+'-joined) keeps nodes in FP32: their FP16 inputs are
//     Cast up (once per value), their float outputs Cast back down, and initializers that only
//     excluded nodes read stay FLOAT. LayerNormalization, Softmax or a final Gemm are the usual
//     candidates when FP16 range or accumulation hurts.
// The error is FP16 rounding: a relative 2^-11 per stored value; runtimes accumulate products
// in FP32 (our executor computes every FP16 op in FP32 and rounds the result to FP16).
// Models with If/Loop/Scan bodies are refused: values crossing into a body would change type.
// Runs after fold-constants and fold-bn (declared): Constant nodes are initializers by then,
// converted once, and BatchNormalization is already in the Conv weights (one rounding, not two).
#pragma once
#include "passes/pass.h"

namespace edgepack {

struct ConvertFp16Settings {
  bool keep_io = true;
  std::vector<std::string> exclude;
};

struct ConvertFp16Stats {
  int64_t converted_initializers = 0;
  int64_t saturated_weights = 0;     // values clamped to +-65504
  int64_t casts_added = 0;
  int64_t kept_fp32_nodes = 0;
};

ConvertFp16Stats convert_fp16(Model& model, const ConvertFp16Settings& settings);

const OptionTable<ConvertFp16Settings>& convert_fp16_options();
PassInfo convert_fp16_info();

}  // namespace edgepack
