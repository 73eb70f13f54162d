// quantize: FP32 -> INT8 post-training quantization to ONNX QDQ.
//   before: X -> Conv(W fp32, B fp32) -> Relu -> Y
//   after:  X -> Q -> DQ -> Conv(DQ(W int8, per-channel scale), DQ(B int32, scale sx*sw)) -> Relu -> Q -> DQ -> Y
// Steps: fold constants and BatchNorm; pick Conv/ConvTranspose/Gemm/MatMul with an initializer weight (minus
// `exclude`d names or op types); calibrate the ranges of their activation inputs and outputs
// (an output followed by its only reader Relu/Clip is calibrated after it, so the activation is
// fused into the range); weights symmetric int8 per output channel, activations uint8
// asymmetric or int8 symmetric per tensor, one shared scale across Concat inputs and residual
// Add operands; bias int32 with scale s_x * s_w. Bias correction (per layer, per output channel)
// then removes the mean shift that each layer's own weight rounding causes:
// b += E[op(x_q, W - W_q)] on the inputs x_q the quantized model gives that layer.
// The file stores INT8 weights (~4x smaller); runtimes fuse the QDQ pattern into integer kernels.
// Mixed precision: `sensitivity=true` quantizes one layer at a time and reports what each loses
// on PassContext::eval (else ::train); `max-accuracy-drop=P` then keeps the most sensitive layers
// in FP32 until the whole model loses at most P points (quantize/sensitivity.h).
// Runs after fold-constants and fold-bn (declared: the canonical pipeline shows them).
#pragma once
#include <optional>

#include "passes/pass.h"

namespace edgepack {

struct QuantizeSettings {
  std::string calib = "mse";
  double percentile = 99.99;
  bool per_channel = true;
  std::string activations = "uint8";
  std::vector<std::string> exclude;      // node names or op types kept in FP32
  bool bias_correction = true;
  bool equalize = false;
  bool sensitivity = false;
  std::optional<double> max_accuracy_drop;   // points; unset = no budget
  std::optional<double> min_sqnr;            // dB of output 0 against FP32, no labels needed; unset = no budget
  std::string metric = "auto";               // sensitivity's: auto, top1, token, sqnr or cosine (core/evaluate.h Metric)
};

const OptionTable<QuantizeSettings>& quantize_options();
PassInfo quantize_info();

// INT8 QDQ of every quantizable node not excluded, on a model whose constants and BatchNorms are
// folded; no sensitivity analysis (the pass adds that).
PassResult quantize_int8(Model& model, const QuantizeSettings& settings, PassContext& context);

// Names of the nodes `quantize` would quantize in `model` (Conv/ConvTranspose/Gemm/MatMul with a constant
// float weight), in graph order; node names are kept by the folding it does first.
std::vector<std::string> quantizable_nodes(const Model& model);

}  // namespace edgepack
