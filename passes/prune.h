// prune: makes a model smaller by removing weights.
//   structured (default): removes whole channels, found and coupled by channel dependency
//     groups (passes/channel_groups.h), so tensors, MACs and the file all shrink:
//       before: X -> Conv(64 filters) -> Relu -> Conv(64 -> 128) -> Y
//       after:  X -> Conv(45 filters) -> Relu -> Conv(45 -> 128) -> Y      (ratio=0.3)
//   unstructured: zeroes the smallest-magnitude weights of each Conv/Gemm/MatMul (or the
//     smallest across all of them, scope=global); shapes stay, sparsity is reported.
//   nm: N:M sparsity (e.g. 2:4, NVIDIA Ampere's sparse tensor cores) along the input dimension
//     of each weight: in every run of M consecutive input weights, the N largest survive.
// Channel importance (structured): l1/l2 norm of each source filter, summed over the coupled
// layers; `activation` = mean |activation| of the channel on the calibration data; `taylor` =
// |sum of weight * gradient| over the channel's filters, with the unpruned model's own top-1 as
// the label (no labels needed).
// Scope `uniform` removes `ratio` of each group's channels; `global` ranks channels across
// groups (importance divided by its group's mean) and removes the least important. `target-macs`
// / `target-params` (fractions of the original) replace `ratio` by a budget met by bisection.
// `sensitivity=true` (structured) first measures what each group loses when pruned alone at
// 25/50/75% (passes/prune_sensitivity.h, on PassContext::eval, else ::train) and reports it; with a
// target, the budget is then spent by those curves (per-layer ratios, where it hurts least)
// instead of by the criterion's ranking.
// Runs after fold-constants (declared: the canonical pipeline shows it).
#pragma once
#include "passes/channel_groups.h"
#include "passes/pass.h"

namespace edgepack {

struct PruneSettings {
  std::string mode = "structured";
  double ratio = 0.3;
  std::string criterion = "l1";
  std::string scope = "uniform";
  std::vector<std::string> layer_ratios;   // NAME:RATIO by source layer name
  std::vector<std::string> exclude;        // node names or op types
  double target_macs = 0;                  // fractions of the original; 0 = use ratio
  double target_params = 0;
  int64_t round_to = 1;
  std::string nm = "2:4";
  bool sensitivity = false;
};

const OptionTable<PruneSettings>& prune_options();
PassInfo prune_info();

// The pass itself, on a model whose constants are folded.
PassResult prune(Model& model, const PruneSettings& settings, PassContext& context);

// Per prunable group, one importance per channel (higher = keep). `criterion` is l1, l2,
// activation or taylor; the last two run the model on context.calibration.
std::map<int, std::vector<double>> channel_importance(const Model& model, const ChannelGroups& groups,
                                                      const std::string& criterion, const PassContext& context);

// Channels a group of `channels` keeps after removing `ratio` of them: at least 1, rounded up to
// a multiple of `multiple`.
int64_t channels_to_keep(int64_t channels, double ratio, int64_t multiple);

// The pass's `exclude` option as a set of node names and op types.
std::set<std::string> excluded_names(const PruneSettings& settings);

// Keeps the `keep` most important channels of a group (ties: lower index first).
std::vector<bool> keep_top(const std::vector<double>& importance, int64_t keep);

// Weights unstructured/nm pruning touches: the constant weight of every Conv, Gemm and MatMul
// not in `exclude` (node names or op types), with the dimension that holds its input channels.
struct PrunableWeight {
  std::string node, tensor;
  int64_t input_dim = 1;
};
std::vector<PrunableWeight> prunable_weights(const Model& model, const std::set<std::string>& exclude);

// N:M along `input_dim`: true when every run of m consecutive weights holds at most n nonzeros.
// Runs are cut from the start of the dimension; a trailing partial run must satisfy it too.
bool satisfies_nm(const at::Tensor& weight, int64_t input_dim, int64_t n, int64_t m);

}  // namespace edgepack
