// Per-layer sensitivity of INT8 quantization: quantize one layer at a time (all others kept in
// FP32) and measure what the model loses on evaluation data: top-1 accuracy points when the data
// has labels, else top-1 disagreement with the FP32 model. Then, for an accuracy budget, keep
// the most sensitive layers in FP32 until the fully quantized model meets it.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/ir.h"
#include "quantize/quantize_pass.h"

namespace edgepack {

struct LayerSensitivity {
  std::string node;
  double loss = 0;   // fraction: accuracy lost, or top-1 disagreement; for sqnr, minus the dB
};

struct SensitivityReport {
  std::string metric;                      // QualityLoss::metric(): "accuracy", "agreement", "sqnr", ...
  double fp32 = 0;                         // FP32 accuracy (1.0 for agreement)
  std::vector<LayerSensitivity> layers;    // most sensitive first
  std::vector<std::string> kept_fp32;      // chosen for the budget, most sensitive first
  double final_loss = 0;                   // loss of the model quantized with `kept_fp32` excluded
};

// `model` has its constants and BatchNorms folded; `settings` are the quantize pass's (calib ...),
// `exclude` is extended here; context.calibration calibrates. Without max_loss no layers are
// excluded, only measured.
// `metric` is what is measured (QualityLoss; for sqnr max_loss is minus the least dB allowed). `context.log` gets one
// progress line per layer, and a warning when the eval set is too small to resolve the budget.
SensitivityReport quantization_sensitivity(const Model& model, const Dataset& eval, const QuantizeSettings& settings,
                                           const PassContext& context, std::optional<double> max_loss, Metric metric);

// {"metric", "kept_fp32", "final_loss_points", "layers": [{"node", "loss_points"}]} (points: 100 x
// the loss, e.g. 100 x (1 - cosine)); for sqnr
// "final_sqnr_db" and per layer "sqnr_db" instead.
nlohmann::json to_json(const SensitivityReport& report);

}  // namespace edgepack
