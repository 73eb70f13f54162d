#include "passes/prune_sensitivity.h"

#include <fmt/format.h>

#include <limits>

#include "core/error.h"
#include "core/evaluate.h"
#include "passes/fold_constants.h"
#include "passes/prune.h"

namespace edgepack {

namespace {

struct Analysis {
  Model model;
  ChannelGroups groups;
  std::map<int, std::vector<double>> importance;
  int64_t multiple = 1;
};

Analysis analyze(const Model& model, const PruneSettings& options, const PassContext& context) {
  Analysis a{model, {}, {}, std::max<int64_t>(1, options.round_to)};
  fold_constants(a.model);
  a.groups = analyze_channel_groups(a.model, excluded_names(options));
  a.importance = channel_importance(a.model, a.groups, options.criterion, context);
  return a;
}

KeepMasks masks_for(const Analysis& a, const std::map<int, double>& ratios) {
  KeepMasks keep;
  for (const auto& [g, r] : ratios)
    keep[g] = keep_top(a.importance.at(g), channels_to_keep(a.groups.groups[g].channels, r, a.multiple));
  return keep;
}

}  // namespace

PruneSensitivity prune_sensitivity(const Model& model, const Dataset& eval, const PruneSettings& options,
                                   const PassContext& context, const std::vector<double>& ratios) {
  Analysis a = analyze(model, options, context);
  // Top-1 (accuracy, or agreement without labels): the allocation below adds losses from a zero baseline.
  const QualityLoss quality_loss(a.model, eval, Metric::Top1);
  const PruneCostModel cost = build_prune_cost_model(a.model, a.groups);
  PruneSensitivity s;
  s.metric = quality_loss.metric();
  s.ratios = ratios;
  for (int g : a.groups.prunable()) {
    GroupSensitivity gs;
    gs.layer = a.groups.groups[g].sources.at(0);
    gs.label = a.groups.groups[g].label();
    gs.channels = a.groups.groups[g].channels;
    for (double r : ratios) {
      const KeepMasks keep = masks_for(a, {{g, r}});
      Model pruned = a.model;
      remove_channels(pruned, a.groups, keep);
      gs.loss.push_back(quality_loss(pruned));
      gs.macs_fraction.push_back(cost.macs_fraction(keep));
    }
    context.report_progress("sensitivity", static_cast<int64_t>(s.groups.size() + 1), static_cast<int64_t>(a.groups.prunable().size()), gs.label);
    s.groups.push_back(std::move(gs));
  }
  return s;
}

std::string allocate_by_sensitivity(const Model& model, const PruneSensitivity& sensitivity, const PruneSettings& options,
                                    const PassContext& context, double target_macs, double target_params) {
  if (target_macs <= 0 && target_params <= 0) throw InputError("a sensitivity-driven budget needs target-macs or target-params");
  Analysis a = analyze(model, options, context);
  const PruneCostModel cost = build_prune_cost_model(a.model, a.groups);
  std::map<std::string, int> group_of;
  for (int g : a.groups.prunable()) group_of[a.groups.groups[g].sources.at(0)] = g;

  auto over_budget = [&](const KeepMasks& keep) {
    return std::max(target_macs > 0 ? cost.macs_fraction(keep) / target_macs : 0.0,
                    target_params > 0 ? cost.params_fraction(keep) / target_params : 0.0);
  };
  std::vector<int> level(sensitivity.groups.size(), -1);   // index into ratios; -1 = untouched
  auto ratios_now = [&] {
    std::map<int, double> r;
    for (size_t i = 0; i < level.size(); ++i)
      if (level[i] >= 0) r[group_of.at(sensitivity.groups[i].layer)] = sensitivity.ratios[level[i]];
    return r;
  };
  double budget = over_budget({});
  while (budget > 1.0) {
    double best_score = std::numeric_limits<double>::infinity(), best_budget = budget;
    int best = -1;
    for (size_t i = 0; i < level.size(); ++i) {
      if (level[i] + 1 >= static_cast<int>(sensitivity.ratios.size())) continue;
      const GroupSensitivity& gs = sensitivity.groups[i];
      const double loss_now = level[i] < 0 ? 0.0 : gs.loss[level[i]];
      const double extra_loss = std::max(0.0, gs.loss[level[i] + 1] - loss_now) + 1e-6;
      ++level[i];
      const double next = over_budget(masks_for(a, ratios_now()));
      --level[i];
      if (next >= budget) continue;
      const double score = extra_loss / (budget - next);
      if (score < best_score) best_score = score, best = static_cast<int>(i), best_budget = next;
    }
    if (best < 0)
      throw InputError(fmt::format("the budget cannot be met within the measured ratios (up to {:.2f} per layer)",
                                   sensitivity.ratios.back()));
    ++level[best];
    budget = best_budget;
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < level.size(); ++i)
    if (level[i] >= 0) items.push_back(fmt::format("{}:{}", sensitivity.groups[i].layer, sensitivity.ratios[level[i]]));
  return fmt::format("{}", fmt::join(items, "+"));
}

nlohmann::json to_json(const PruneSensitivity& s) {
  nlohmann::json j = {{"metric", s.metric}, {"ratios", s.ratios}, {"groups", nlohmann::json::array()}};
  for (const auto& g : s.groups) {
    std::vector<double> points;
    for (double loss : g.loss) points.push_back(100 * loss);
    j["groups"].push_back({{"layer", g.layer}, {"label", g.label}, {"channels", g.channels}, {"loss_points", points},
                           {"macs_fraction", g.macs_fraction}});
  }
  return j;
}

}  // namespace edgepack
