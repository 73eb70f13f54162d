// Pruning sensitivity (Distiller's analysis): prune one channel group at a time at several
// ratios, all others intact, and measure what the model loses on evaluation data (accuracy
// points with labels, top-1 disagreement with the original without). Then spend a MACs or
// parameter budget where it hurts least: starting from nothing pruned, repeatedly advance the
// group whose next ratio step costs the least loss per unit of budget saved, until the budget
// is met. The result is a `layer-ratios` value for the prune pass, so the chosen pipeline stays
// a plain, reproducible string.
#pragma once
#include <string>
#include <vector>

#include "core/dataset.h"
#include <nlohmann/json.hpp>

#include "passes/channel_groups.h"
#include "passes/pass.h"
#include "passes/prune.h"

namespace edgepack {

struct GroupSensitivity {
  std::string layer;                   // the group's first source: what layer-ratios names
  std::string label;
  int64_t channels = 0;
  std::vector<double> loss;            // per ratio of PruneSensitivity::ratios (fractions)
  std::vector<double> macs_fraction;   // model MACs left with only this group pruned, per ratio
};

struct PruneSensitivity {
  std::string metric;                  // "accuracy" or "agreement"
  std::vector<double> ratios;
  std::vector<GroupSensitivity> groups;   // prunable groups, graph order
};

// `options` are the prune pass's (criterion, exclude, round-to are used). `model` need not be
// folded (a folded copy is measured).
PruneSensitivity prune_sensitivity(const Model& model, const Dataset& eval, const PruneSettings& options,
                                   const PassContext& context, const std::vector<double>& ratios = {0.25, 0.5, 0.75});

// Per-layer ratios meeting `target_macs` and/or `target_params` (fractions of the original; 0 =
// none), chosen greedily by loss per budget saved. Returns "NAME:RATIO+..." (empty when nothing
// needs pruning); InputError when even the largest measured ratios do not meet the budget.
std::string allocate_by_sensitivity(const Model& model, const PruneSensitivity& sensitivity, const PruneSettings& options,
                                    const PassContext& context, double target_macs, double target_params);

// {"metric", "ratios", "groups": [{"layer", "label", "channels", "loss_points" (per ratio, in
// points), "macs_fraction" (per ratio)}]}: what `prune --sensitivity --json` prints and the
// prune pass reports.
nlohmann::json to_json(const PruneSensitivity& sensitivity);

}  // namespace edgepack
