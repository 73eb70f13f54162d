#include "quantize/sensitivity.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/evaluate.h"
#include "quantize/quantize_pass.h"

namespace edgepack {

SensitivityReport quantization_sensitivity(const Model& model, const Dataset& eval, const QuantizeSettings& settings,
                                           const PassContext& context, std::optional<double> max_loss, Metric metric) {
  SensitivityReport report;
  const QualityLoss quality_loss(model, eval, metric);
  // One sample more or less changes top-1 by 1/N: a budget finer than that cannot be resolved.
  const bool top1 = metric == Metric::Top1 || metric == Metric::Token;
  if (top1 && max_loss && *max_loss > 0 && eval.samples > 0 && *max_loss < 1.0 / static_cast<double>(eval.samples) && context.log)
    context.log(fmt::format("warning: the budget ({:.3g} points) is finer than one of the {} evaluation samples ({:.3g} points)",
                            100 * *max_loss, eval.samples, 100.0 / static_cast<double>(eval.samples)));
  if (!top1 && eval.samples < 8 && context.log)
    context.log(fmt::format("warning: {} evaluation sample(s): the {} of each layer is measured on very little data",
                            eval.samples, metric_name(metric)));
  report.metric = quality_loss.metric();
  report.fp32 = quality_loss.reference_accuracy();
  PassContext quiet = context;   // the same calibration; no progress line per trial
  quiet.log = nullptr;
  auto loss_with_excluded = [&](const std::vector<std::string>& excluded) {
    Model q = model;
    QuantizeSettings one = settings;
    one.exclude.insert(one.exclude.end(), excluded.begin(), excluded.end());
    quantize_int8(q, one, quiet);
    return quality_loss(q);
  };
  const auto nodes = quantizable_nodes(model);
  for (const auto& node : nodes) {
    std::vector<std::string> others;
    for (const auto& o : nodes)
      if (o != node) others.push_back(o);
    report.layers.push_back({node, loss_with_excluded(others)});
    context.report_progress("sensitivity", static_cast<int64_t>(report.layers.size()), static_cast<int64_t>(nodes.size()), node);
  }
  std::stable_sort(report.layers.begin(), report.layers.end(),
                   [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.loss > b.loss; });
  report.final_loss = loss_with_excluded({});
  if (!max_loss) return report;
  for (const auto& layer : report.layers) {
    if (report.final_loss <= *max_loss) break;
    report.kept_fp32.push_back(layer.node);
    report.final_loss = loss_with_excluded(report.kept_fp32);
  }
  return report;
}

nlohmann::json to_json(const SensitivityReport& r) {
  if (r.metric == "sqnr") {
    nlohmann::json j = {{"metric", r.metric}, {"kept_fp32", r.kept_fp32}, {"final_sqnr_db", -r.final_loss},
                        {"layers", nlohmann::json::array()}};
    for (const auto& l : r.layers) j["layers"].push_back({{"node", l.node}, {"sqnr_db", -l.loss}});
    return j;
  }
  nlohmann::json j = {{"metric", r.metric}, {"kept_fp32", r.kept_fp32}, {"final_loss_points", 100 * r.final_loss},
                      {"layers", nlohmann::json::array()}};
  for (const auto& l : r.layers) j["layers"].push_back({{"node", l.node}, {"loss_points", 100 * l.loss}});
  return j;
}

}  // namespace edgepack
