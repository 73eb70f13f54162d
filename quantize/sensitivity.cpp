#include "quantize/sensitivity.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/evaluate.h"
#include "passes/pipeline.h"
#include "quantize/quantize_pass.h"

namespace edgepack {

namespace {

std::string joined(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, "+")); }

}  // namespace

SensitivityReport quantization_sensitivity(const Model& model, const std::vector<std::map<std::string, at::Tensor>>& calibration,
                                           const Dataset& eval, std::map<std::string, std::string> options, double max_loss) {
  SensitivityReport report;
  const QualityLoss quality_loss(model, eval);
  report.metric = quality_loss.metric();
  report.fp32 = quality_loss.reference_accuracy();
  auto loss_with_excluded = [&](const std::vector<std::string>& excluded) {
    Model q = model;
    options["exclude"] = joined(excluded);
    if (excluded.empty()) options.erase("exclude");
    PassContext ctx;
    ctx.calibration = calibration;
    run_pipeline(q, {PipelineStep{"quantize", options}}, ctx);
    return quality_loss(q);
  };
  const auto nodes = quantizable_nodes(model);
  for (const auto& node : nodes) {
    std::vector<std::string> others;
    for (const auto& o : nodes)
      if (o != node) others.push_back(o);
    report.layers.push_back({node, loss_with_excluded(others)});
  }
  std::stable_sort(report.layers.begin(), report.layers.end(),
                   [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.loss > b.loss; });
  report.final_loss = loss_with_excluded({});
  if (max_loss < 0) return report;
  for (const auto& layer : report.layers) {
    if (report.final_loss <= max_loss) break;
    report.kept_fp32.push_back(layer.node);
    report.final_loss = loss_with_excluded(report.kept_fp32);
  }
  return report;
}

}  // namespace edgepack
