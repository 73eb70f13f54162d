#include "passes/prune.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/cost_model.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/dataset.h"
#include "passes/fold_constants.h"
#include "passes/prune_sensitivity.h"

namespace edgepack {

namespace {

// Adds a per-output-channel score of one source filter to the units its channels belong to.
void credit(std::vector<double>& imp, const ChannelGroup::Filter& f, const at::Tensor& per_channel) {
  at::Tensor s = per_channel.to(at::kDouble).contiguous();
  for (size_t c = 0; c < f.units.size(); ++c)
    if (f.units[c] >= 0) imp[f.units[c]] += s.data_ptr<double>()[c];
}

// Rows = output channels of a source filter.
at::Tensor filter_rows(const at::Tensor& w, int64_t dim) { return w.movedim(dim, 0).reshape({w.size(dim), -1}); }

// Filter norms of every source of the group, summed per unit.
std::vector<double> norm_importance(const Model& model, const ChannelGroup& group, int p) {
  std::vector<double> imp(static_cast<size_t>(group.channels), 0.0);
  for (const auto& f : group.filters) {
    at::Tensor w = filter_rows(model.graph.initializers.at(f.tensor).to(at::kDouble), f.dim);
    credit(imp, f, p == 1 ? w.abs().sum(1) : w.pow(2).sum(1).sqrt());
  }
  return imp;
}

// Mean |activation| of every channel-carrying value, per position, credited to its channel.
std::map<int, std::vector<double>> activation_importance(const Model& model, const ChannelGroups& groups,
                                                         const PassContext& context, std::map<int, std::vector<double>> imp) {
  Executor exec(model);
  exec.set_observer([&](const std::string& value, const at::Tensor& t) {
    auto it = groups.value_channels.find(value);
    if (it == groups.value_channels.end() || !t.is_floating_point()) return;
    const int64_t axis = groups.value_axis.at(value);
    at::Tensor m = t.to(at::kDouble).abs().movedim(axis, 0).reshape({t.size(axis), -1}).mean(1).contiguous();
    const double* p = m.data_ptr<double>();
    for (size_t pos = 0; pos < it->second.size(); ++pos) {
      const ChannelRef& r = it->second[pos];
      if (r.group >= 0 && imp.count(r.group)) imp[r.group][r.index] += p[pos];
    }
  });
  int64_t done = 0;
  for (const auto& feeds : context.calibration) {
    exec.run(feeds);
    context.report_progress("channel importance", ++done, static_cast<int64_t>(context.calibration.size()));
  }
  return imp;
}

// |sum over the channel's filter weights of w * dL/dw|, L = cross-entropy of the model's
// output against its own top-1 (first-order Taylor estimate of the loss change on removal).
std::map<int, std::vector<double>> taylor_importance(const Model& model, const ChannelGroups& groups,
                                                     const PassContext& context, std::map<int, std::vector<double>> imp) {
  std::map<std::string, at::Tensor> params;
  for (int g : groups.prunable())
    for (const auto& f : groups.groups[g].filters)
      params.emplace(f.tensor, model.graph.initializers.at(f.tensor).detach().clone().requires_grad_(true));
  Executor exec(model);
  exec.set_training(params);
  int64_t done = 0;
  for (const auto& feeds : context.calibration) {
    at::Tensor out = exec.run(feeds).at(model.graph.outputs.at(0).name);
    at::Tensor logits = out.reshape({out.size(0), -1});
    at::cross_entropy_loss(logits, logits.detach().argmax(1)).backward();
    context.report_progress("channel importance", ++done, static_cast<int64_t>(context.calibration.size()));
  }
  for (int g : groups.prunable()) {
    const ChannelGroup& group = groups.groups[g];
    for (const auto& f : group.filters) {
      const at::Tensor& w = params.at(f.tensor);
      if (w.grad().defined()) credit(imp[g], f, filter_rows(w.detach() * w.grad(), f.dim).sum(1).abs());
    }
  }
  return imp;
}

int64_t round_up(int64_t n, int64_t multiple) { return multiple <= 1 ? n : (n + multiple - 1) / multiple * multiple; }

// Smallest x in [lo, hi] (to 1e-4) with fraction(x) <= target, fraction decreasing in x.
template <class F>
double bisect(double lo, double hi, double target, F fraction) {
  for (int i = 0; i < 30 && hi - lo > 1e-4; ++i) {
    const double mid = (lo + hi) / 2;
    (fraction(mid) <= target ? hi : lo) = mid;
  }
  return hi;
}

struct Selection {
  KeepMasks keep;
  double macs_fraction = 1, params_fraction = 1;
};

Selection select_channels(const Model& model, const ChannelGroups& groups, const std::map<int, std::vector<double>>& imp,
                          const PruneSettings& o) {
  const double ratio = o.ratio;
  const double target_macs = o.target_macs, target_params = o.target_params;
  const int64_t multiple = std::max<int64_t>(1, o.round_to);
  // Per-layer ratios: source node name -> ratio of its group.
  std::map<int, double> fixed;
  for (const std::string& item : o.layer_ratios) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos) throw InputError(fmt::format("layer-ratios entry '{}' is not NAME:RATIO", item));
    const std::string name = item.substr(0, colon);
    const double r = std::stod(item.substr(colon + 1));
    if (r < 0 || r >= 1) throw InputError(fmt::format("layer ratio of '{}' must be in [0, 1), got {}", name, r));
    bool found = false;
    for (size_t g = 0; g < groups.groups.size(); ++g) {
      const auto& s = groups.groups[g].sources;
      if (std::find(s.begin(), s.end(), name) == s.end()) continue;
      if (!groups.groups[g].prunable())
        throw InputError(fmt::format("layer '{}' cannot be pruned: {}", name, groups.groups[g].blocked));
      fixed[static_cast<int>(g)] = r;
      found = true;
    }
    if (!found) throw InputError(fmt::format("layer-ratios names '{}', which is not a Conv/Gemm/MatMul with a constant weight", name));
  }

  PruneCostModel cost = build_prune_cost_model(model, groups);
  const bool global = o.scope == "global";
  auto plan = [&](double r) {   // uniform: ratio r per group; global: r of all free channels
    KeepMasks keep;
    for (const auto& [g, fr] : fixed) keep[g] = keep_top(imp.at(g), channels_to_keep(groups.groups[g].channels, fr, multiple));
    if (!global) {
      for (const auto& [g, v] : imp)
        if (!fixed.count(g)) keep[g] = keep_top(v, channels_to_keep(static_cast<int64_t>(v.size()), r, multiple));
      return keep;
    }
    struct Candidate { double score; int group; int64_t index; };
    std::vector<Candidate> all;
    std::map<int, int64_t> remaining;
    for (const auto& [g, v] : imp) {
      if (fixed.count(g)) continue;
      const double mean = std::accumulate(v.begin(), v.end(), 0.0) / std::max<size_t>(v.size(), 1);
      for (size_t c = 0; c < v.size(); ++c) all.push_back({mean > 0 ? v[c] / mean : 0.0, g, static_cast<int64_t>(c)});
      keep[g] = std::vector<bool>(v.size(), true);
      remaining[g] = static_cast<int64_t>(v.size());
    }
    std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
    const auto quota = static_cast<size_t>(std::llround(r * all.size()));
    size_t removed = 0;
    for (const Candidate& c : all) {
      if (removed >= quota) break;
      if (remaining[c.group] <= 1) continue;   // every layer keeps at least one channel
      keep[c.group][c.index] = false;
      --remaining[c.group];
      ++removed;
    }
    for (auto& [g, mask] : keep) {   // round each group's count up, restoring its best channels
      if (fixed.count(g)) continue;
      const int64_t kept = std::count(mask.begin(), mask.end(), true);
      if (round_up(kept, multiple) != kept) mask = keep_top(imp.at(g), std::min<int64_t>(round_up(kept, multiple), mask.size()));
    }
    return keep;
  };

  double r = ratio;
  if (target_macs > 0 || target_params > 0) {
    auto fraction = [&](double x) {
      KeepMasks k = plan(x);
      return std::max(target_macs > 0 ? cost.macs_fraction(k) / target_macs : 0.0,
                      target_params > 0 ? cost.params_fraction(k) / target_params : 0.0);
    };
    r = bisect(0.0, 0.999, 1.0, fraction);
  }
  Selection s;
  s.keep = plan(r);
  s.macs_fraction = cost.macs_fraction(s.keep);
  s.params_fraction = cost.params_fraction(s.keep);
  return s;
}

// The per-element threshold below which `ratio` of |values| fall.
double magnitude_threshold(const at::Tensor& abs_values, double ratio) {
  const int64_t k = static_cast<int64_t>(std::llround(ratio * abs_values.numel()));
  if (k <= 0) return -1;
  return std::get<0>(abs_values.reshape({-1}).kthvalue(k)).item<double>();
}

// Zeroes values at or below the threshold, at most `count` of them (ties keep the later ones),
// so a ratio is met exactly even when many weights share one magnitude.
at::Tensor zero_smallest(const at::Tensor& w, int64_t count) {
  if (count <= 0) return w;
  at::Tensor flat = w.reshape({-1});
  at::Tensor order = flat.abs().argsort(/*stable=*/true);
  at::Tensor out = flat.clone();
  out.index_fill_(0, order.slice(0, 0, count), 0);
  return out.reshape(w.sizes());
}

PassResult prune_unstructured(Model& model, const PruneSettings& o) {
  const double ratio = o.ratio;
  if (ratio < 0 || ratio >= 1) throw InputError(fmt::format("prune ratio must be in [0, 1), got {}", ratio));
  auto weights = prunable_weights(model, excluded_names(o));
  auto& inits = model.graph.initializers;
  int64_t total = 0, zeros = 0;
  if (o.scope == "global" && !weights.empty()) {
    std::vector<at::Tensor> flat;
    for (const auto& w : weights) flat.push_back(inits.at(w.tensor).abs().reshape({-1}).to(at::kFloat));
    const double threshold = magnitude_threshold(at::cat(flat), ratio);
    for (const auto& w : weights) inits.at(w.tensor) = inits.at(w.tensor).masked_fill(inits.at(w.tensor).abs() <= threshold, 0);
  } else {
    for (const auto& w : weights) {
      at::Tensor& t = inits.at(w.tensor);
      t = zero_smallest(t, static_cast<int64_t>(std::llround(ratio * t.numel())));
    }
  }
  for (const auto& w : weights) {
    total += inits.at(w.tensor).numel();
    zeros += (inits.at(w.tensor) == 0).sum().item<int64_t>();
  }
  PassResult r;
  r.changed = zeros > 0;
  r.stats["pruned_layers"] = static_cast<double>(weights.size());
  r.stats["weights"] = static_cast<double>(total);
  r.stats["sparsity"] = total ? double(zeros) / total : 0;
  return r;
}

std::pair<int64_t, int64_t> parse_nm(const std::string& text) {
  const auto colon = text.find(':');
  int64_t n = 0, m = 0;
  try {
    if (colon != std::string::npos) n = std::stoll(text.substr(0, colon)), m = std::stoll(text.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (n <= 0 || m <= 0 || n >= m) throw InputError(fmt::format("nm must be N:M with 0 < N < M (e.g. 2:4), got '{}'", text));
  return {n, m};
}

// Runs of m along `dim` as rows: [.., I, ..] -> [rows, m]; I must be a multiple of m.
at::Tensor as_runs(const at::Tensor& w, int64_t dim, int64_t m) { return w.movedim(dim, -1).reshape({-1, m}); }

PassResult prune_nm(Model& model, const PruneSettings& o) {
  const auto [n, m] = parse_nm(o.nm);
  auto& inits = model.graph.initializers;
  int64_t layers = 0, skipped = 0, total = 0, zeros = 0;
  for (const auto& pw : prunable_weights(model, excluded_names(o))) {
    at::Tensor& w = inits.at(pw.tensor);
    if (w.size(pw.input_dim) % m != 0) {
      ++skipped;   // runtimes need whole runs; such layers stay dense
      continue;
    }
    at::Tensor moved = w.movedim(pw.input_dim, -1);
    at::Tensor runs = moved.reshape({-1, m});
    at::Tensor drop = runs.abs().argsort(1, /*descending=*/false).slice(1, 0, m - n);
    at::Tensor pruned = runs.clone().scatter_(1, drop, 0);
    w = pruned.reshape(moved.sizes()).movedim(-1, pw.input_dim).contiguous();
    ++layers;
    total += w.numel();
    zeros += (w == 0).sum().item<int64_t>();
  }
  PassResult r;
  r.changed = layers > 0;
  r.stats["pruned_layers"] = static_cast<double>(layers);
  r.stats["skipped_layers"] = static_cast<double>(skipped);
  r.stats["sparsity"] = total ? double(zeros) / total : 0;
  return r;
}

}  // namespace

int64_t channels_to_keep(int64_t channels, double ratio, int64_t multiple) {
  const int64_t keep = channels - static_cast<int64_t>(std::llround(ratio * channels));
  return std::min(channels, std::max<int64_t>(round_up(std::max<int64_t>(keep, 1), multiple), 1));
}

std::vector<bool> keep_top(const std::vector<double>& importance, int64_t keep) {
  std::vector<size_t> order(importance.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return importance[a] > importance[b]; });
  std::vector<bool> mask(importance.size(), false);
  for (int64_t i = 0; i < keep && i < static_cast<int64_t>(order.size()); ++i) mask[order[i]] = true;
  return mask;
}

std::map<int, std::vector<double>> channel_importance(const Model& model, const ChannelGroups& groups,
                                                      const std::string& criterion, const PassContext& context) {
  std::map<int, std::vector<double>> imp;
  if (criterion == "l1" || criterion == "l2") {
    for (int g : groups.prunable()) imp[g] = norm_importance(model, groups.groups[g], criterion == "l1" ? 1 : 2);
    return imp;
  }
  if (criterion != "activation" && criterion != "taylor")
    throw InputError(fmt::format("unknown prune criterion '{}' (l1, l2, taylor, activation)", criterion));
  if (context.calibration.empty())
    throw InputError(fmt::format("prune criterion '{}' needs data (--data)", criterion));
  for (int g : groups.prunable()) imp[g] = std::vector<double>(static_cast<size_t>(groups.groups[g].channels), 0.0);
  return criterion == "activation" ? activation_importance(model, groups, context, std::move(imp))
                                   : taylor_importance(model, groups, context, std::move(imp));
}

std::vector<PrunableWeight> prunable_weights(const Model& model, const std::set<std::string>& exclude) {
  std::vector<PrunableWeight> out;
  const Graph& g = model.graph;
  for (const Node& n : g.nodes) {
    if (!n.domain.empty() || exclude.count(n.name) || exclude.count(n.op_type) || n.inputs.size() < 2) continue;
    if (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul") continue;
    auto it = g.initializers.find(n.inputs[1]);
    if (it == g.initializers.end() || !it->second.is_floating_point()) continue;
    int64_t dim = 1;
    if (n.op_type == "Gemm") dim = n.attr_int("transB", 0) ? 1 : 0;
    if (n.op_type == "MatMul") dim = it->second.dim() - 2;
    if (dim < 0) continue;
    out.push_back({n.name.empty() ? n.outputs[0] : n.name, n.inputs[1], dim});
  }
  return out;
}

bool satisfies_nm(const at::Tensor& weight, int64_t input_dim, int64_t n, int64_t m) {
  const int64_t size = weight.size(input_dim);
  const int64_t whole = size / m * m;
  at::Tensor nz = weight.ne(0);
  if (whole > 0 && (as_runs(nz.narrow(input_dim, 0, whole), input_dim, m).sum(1) > n).any().item<bool>()) return false;
  if (whole < size && (nz.narrow(input_dim, whole, size - whole).movedim(input_dim, -1).sum(-1) > n).any().item<bool>())
    return false;
  return true;
}

std::set<std::string> excluded_names(const PruneSettings& settings) {
  return std::set<std::string>(settings.exclude.begin(), settings.exclude.end());
}

const OptionTable<PruneSettings>& prune_options() {
  using S = PruneSettings;
  static const OptionTable<S> table =
      OptionTable<S>()
          .choice("mode", &S::mode, {"structured", "unstructured", "nm"},
                  "structured removes channels; unstructured and nm zero weights")
          .real("ratio", &S::ratio, "Fraction of channels (structured) or weights (unstructured) to remove", Range::right_open(0, 1))
          .choice("criterion", &S::criterion, {"l1", "l2", "taylor", "activation"},
                  "Channel importance; taylor and activation run the calibration data")
          .choice("scope", &S::scope, {"uniform", "global"},
                  "uniform: ratio per layer group; global: least important channels or weights model-wide")
          .list("layer-ratios", &S::layer_ratios,
                "Per-layer ratios NAME:RATIO joined by '+', by source layer name (e.g. conv1:0.2+fc1:0.6)")
          .list("exclude", &S::exclude, "Node names or op types never pruned, joined by '+'")
          .real("target-macs", &S::target_macs, "Keep at most this fraction of the original MACs (0 = use ratio)", Range::closed(0, 1))
          .real("target-params", &S::target_params, "Keep at most this fraction of the original parameters (0 = use ratio)",
                Range::closed(0, 1))
          .integer("round-to", &S::round_to, "Round each layer's kept channel count up to a multiple of this (e.g. 8 for SIMD)",
                   Range::at_least(1))
          .text("nm", &S::nm, "N:M pattern for mode=nm: N nonzeros in each run of M input weights")
          .flag("sensitivity", &S::sensitivity,
                "Measure each layer group pruned alone at 25/50/75% on the evaluation data; with target-macs/target-params, "
                "spend the budget where it hurts least");
  return table;
}

PassInfo prune_info() {
  return make_pass(
      "prune", "Remove channels (structured, dependency-aware) or weights (unstructured, N:M sparsity)",
      "Structured pruning removes whole channels, found and coupled by channel dependency groups, so tensors, MACs and "
      "the file shrink; unstructured zeroes the smallest weights; nm keeps N of every M consecutive input weights (2:4 "
      "for sparse tensor cores). Channel importance is the l1/l2 norm of each filter over the coupled layers, the mean "
      "activation, or |weight * gradient| (taylor) on the calibration data. A MACs or parameter budget is met by "
      "bisection over the ratio, or, with sensitivity=true, by the measured per-group loss curves.",
      prune_options(), &prune, {"fold-constants"});
}

namespace {

PassResult prune_structured(Model& model, const PruneSettings& options, PassContext& context) {
  ChannelGroups groups = analyze_channel_groups(model, excluded_names(options));
  const auto imp = channel_importance(model, groups, options.criterion, context);
  Selection s = select_channels(model, groups, imp, options);
  int64_t before = 0, removed = 0;
  for (const auto& [g, mask] : s.keep) {
    before += groups.groups[g].channels;
    removed += std::count(mask.begin(), mask.end(), false);
    if (context.log && std::count(mask.begin(), mask.end(), false) > 0)
      context.log(fmt::format("prune: {} keeps {} of {} channels", groups.groups[g].label(),
                              std::count(mask.begin(), mask.end(), true), mask.size()));
  }
  const ModelCost cost_before = analyze_model(model);
  remove_channels(model, groups, s.keep);
  const ModelCost cost_after = analyze_model(model);
  PassResult r;
  r.changed = removed > 0;
  r.stats["groups"] = static_cast<double>(groups.groups.size());
  r.stats["prunable_groups"] = static_cast<double>(groups.prunable().size());
  r.stats["channels_removed"] = static_cast<double>(removed);
  r.stats["prunable_channels"] = static_cast<double>(before);
  r.stats["macs_before"] = static_cast<double>(cost_before.totals.macs);
  r.stats["macs_after"] = static_cast<double>(cost_after.totals.macs);
  r.stats["params_before"] = static_cast<double>(cost_before.totals.params);
  r.stats["params_after"] = static_cast<double>(cost_after.totals.params);
  return r;
}

}  // namespace

PassResult prune(Model& model, const PruneSettings& settings, PassContext& context) {
  check_exclude(model, settings.exclude);
  if (settings.mode == "unstructured") return prune_unstructured(model, settings);
  if (settings.mode == "nm") return prune_nm(model, settings);
  if (!settings.sensitivity) return prune_structured(model, settings, context);

  const Dataset* data = context.quality_data();
  if (!data) throw InputError("sensitivity=true needs evaluation data (--eval-data, or --data) to measure on");
  const PruneSensitivity measured = prune_sensitivity(model, *data, settings, context);
  PruneSettings spend = settings;
  nlohmann::json details = {{"sensitivity", to_json(measured)}};
  if (settings.target_macs > 0 || settings.target_params > 0) {
    // The budget is spent by the measured curves: explicit per-layer ratios, nothing else pruned.
    spend.layer_ratios = split_list(allocate_by_sensitivity(model, measured, settings, context, settings.target_macs,
                                                            settings.target_params));
    spend.ratio = 0;
    spend.target_macs = spend.target_params = 0;
    details["layer_ratios"] = fmt::format("{}", fmt::join(spend.layer_ratios, "+"));
  }
  PassResult r = prune_structured(model, spend, context);
  r.details = std::move(details);
  return r;
}

}  // namespace edgepack
