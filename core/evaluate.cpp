#include "core/evaluate.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/executor.h"

namespace edgepack {

namespace {

// A model's outputs for a batch, fed in pieces of its fixed batch size when it has one: a short
// last piece is padded by repeating its final sample and the padding's outputs are dropped
// (outputs without that sample dimension are then left out). Output 0 must have one row per sample.
class Runner {
 public:
  explicit Runner(const Model& model) : model_(model), executor_(model), fixed_(max_batch(model)) {}

  const std::string& output0() const { return model_.graph.outputs.at(0).name; }

  std::map<std::string, at::Tensor> run(const std::map<std::string, at::Tensor>& feeds, int64_t count) {
    if (!fixed_) return checked(executor_.run(feeds), count);
    std::map<std::string, std::vector<at::Tensor>> parts;
    for (int64_t s = 0; s < count; s += fixed_) {
      at::Tensor rows = at::arange(s, s + fixed_, at::kLong).clamp_max(count - 1);
      std::map<std::string, at::Tensor> piece;
      for (const auto& [name, t] : feeds) piece[name] = t.index_select(0, rows);
      for (auto& [name, y] : checked(executor_.run(piece), fixed_))
        if (y.dim() > 0 && y.size(0) == fixed_) parts[name].push_back(y.slice(0, 0, std::min(fixed_, count - s)));
    }
    std::map<std::string, at::Tensor> out;
    for (auto& [name, p] : parts) out[name] = at::cat(p);
    return out;
  }

 private:
  std::map<std::string, at::Tensor> checked(std::map<std::string, at::Tensor> outputs, int64_t count) const {
    const std::string& name = output0();
    const at::Tensor& y = outputs.at(name);
    if (y.dim() == 0 || y.size(0) != count || y.numel() == 0)
      throw InputError(fmt::format("output '{}' has shape [{}] for {} sample(s); evaluation needs one non-empty "
                                   "row per sample along its first dimension", name, fmt::join(y.sizes(), ","), count));
    return outputs;
  }

  const Model& model_;
  Executor executor_;
  int64_t fixed_;
};

// Signal and noise power of one output against the reference's, summed over batches.
struct PowerSums {
  double signal = 0, noise = 0;
  void add(const at::Tensor& y, const at::Tensor& z) {
    signal += z.pow(2).sum().item<double>();
    noise += (y - z).pow(2).sum().item<double>();
  }
  double sqnr_db() const {
    const double sqnr = noise == 0 ? kSqnrCapDb : signal == 0 ? -kSqnrCapDb : 10 * std::log10(signal / noise);
    return std::clamp(sqnr, -kSqnrCapDb, kSqnrCapDb);
  }
};

bool is_float(const at::Tensor& t) { return at::isFloatingType(t.scalar_type()); }

// Keep NaN once seen, where std::min/max would drop it.
void keep_max(double& acc, double v) {
  if (!(v <= acc)) acc = v;
}
void keep_min(double& acc, double v) {
  if (!(v >= acc)) acc = v;
}

}  // namespace

EvalResult evaluate(const Model& model, const Dataset& data, const EvalOptions& options) {
  if (model.graph.outputs.empty()) throw InputError("the model has no outputs to evaluate");
  if (data.samples <= 0) throw InputError(fmt::format("'{}' holds no samples", data.source));
  data.validate(model);
  if (options.reference) {
    if (options.reference->graph.outputs.empty()) throw InputError("the reference model has no outputs");
    data.validate(*options.reference);
  }
  Runner runner(model);
  std::optional<Runner> reference;
  if (options.reference) reference.emplace(*options.reference);

  EvalResult r;
  r.samples = data.samples;
  r.output.name = model.graph.outputs[0].name;
  const int64_t step = std::max<int64_t>(1, options.batch_size);
  // Per-token labels [N, T]: every token is a prediction over output 0's last axis.
  const bool per_token = data.has_labels() && data.labels.dim() == 2;
  const int64_t rows_per_sample = per_token ? data.labels.size(1) : 1;
  double nll_sum = 0;
  int64_t correct = 0, same = 0;
  double cosine_sum = 0, max_err = 0;
  std::map<size_t, PowerSums> power;          // by output position
  std::map<size_t, std::string> names{{0, model.graph.outputs[0].name}};
  // Mean and squared deviations merged batch by batch (Chan et al.): stable over millions of values.
  double count = 0, mean = 0, m2 = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t s = 0; s < data.samples; s += step) {
    Dataset::Batch b = data.batch(s, step);
    const int64_t n = std::min(step, data.samples - s);
    const std::map<std::string, at::Tensor> outputs = runner.run(b.feeds, n);
    at::Tensor y = outputs.at(runner.output0()).to(at::kDouble);
    if (per_token) {
      if (y.dim() != 3 || y.size(1) != rows_per_sample)
        throw InputError(fmt::format("labels of shape [{},{}] give a class per token, but output '{}' has shape [{}]; "
                                     "expected [N,{},classes]", data.samples, rows_per_sample, r.output.name,
                                     fmt::join(y.sizes(), ","), rows_per_sample));
      y = y.reshape({n * rows_per_sample, -1});
    } else {
      y = y.reshape({n, -1});
    }

    const double bn = static_cast<double>(y.numel()), bmean = y.mean().item<double>();
    const double delta = bmean - mean;
    m2 += (y - bmean).pow(2).sum().item<double>() + delta * delta * count * bn / (count + bn);
    mean += delta * bn / (count + bn);
    count += bn;
    keep_min(lo, y.min().item<double>());
    keep_max(hi, y.max().item<double>());

    at::Tensor pred = y.argmax(1);
    if (b.labels.defined()) {
      const at::Tensor labels = b.labels.reshape({-1});
      correct += pred.eq(labels).sum().item<int64_t>();
      if (per_token) {
        if (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= y.size(1))
          throw InputError(fmt::format("'{}' has token labels outside [0, {}), the classes of output '{}'", data.source,
                                       y.size(1), r.output.name));
        nll_sum -= at::log_softmax(y, 1).gather(1, labels.unsqueeze(1)).sum().item<double>();
      }
    }
    if (reference) {
      const std::map<std::string, at::Tensor> reference_outputs = reference->run(b.feeds, n);
      at::Tensor z = reference_outputs.at(reference->output0());
      if (z.numel() != y.numel())
        throw InputError(fmt::format("the reference's output '{}' has shape [{}] but the model's has {} values per "
                                     "sample", options.reference->graph.outputs[0].name, fmt::join(z.sizes(), ","),
                                     y.numel() / n));
      z = z.to(at::kDouble).reshape(y.sizes());
      same += pred.eq(z.argmax(1)).sum().item<int64_t>();
      at::Tensor ny = y.norm(2, 1), nz = z.norm(2, 1), denom = ny * nz;
      // Two all-zero outputs agree perfectly; one all-zero output is orthogonal to anything.
      at::Tensor cosine = at::where(denom > 0, (y * z).sum(1) / denom, ny.eq(nz).to(at::kDouble));
      cosine_sum += cosine.sum().item<double>();
      keep_max(max_err, (y - z).abs().max().item<double>());
      power[0].add(y, z);
      // The other float outputs, paired by position, where the two models give equal shapes.
      const auto& mine = model.graph.outputs;
      const auto& theirs = options.reference->graph.outputs;
      for (size_t i = 1; i < std::min(mine.size(), theirs.size()); ++i) {
        auto a = outputs.find(mine[i].name), c = reference_outputs.find(theirs[i].name);
        if (a == outputs.end() || c == reference_outputs.end() || !is_float(a->second) || !is_float(c->second) ||
            a->second.sizes() != c->second.sizes())
          continue;
        if (!power.count(i)) names[i] = mine[i].name;
        power[i].add(a->second.to(at::kDouble), c->second.to(at::kDouble));
      }
    }
    if (options.progress) options.progress(s + n, data.samples);
  }
  r.output.mean = mean;
  r.output.std = std::sqrt(m2 / count);
  r.output.min = lo;
  r.output.max = hi;
  const double total = static_cast<double>(data.samples * rows_per_sample);
  if (data.has_labels()) r.accuracy = static_cast<double>(correct) / total;
  if (per_token) r.language_model = TokenMetrics{data.samples * rows_per_sample, nll_sum / total, std::exp(nll_sum / total)};
  if (reference) {
    Agreement a;
    a.top1_match = static_cast<double>(same) / total;
    a.mean_cosine = cosine_sum / total;
    a.max_abs_error = max_err;
    a.sqnr_db = power[0].sqnr_db();
    for (const auto& [i, p] : power) a.outputs.push_back({names.at(i), p.sqnr_db()});
    r.agreement = a;
  }
  return r;
}

double Agreement::worst_sqnr_db() const {
  double worst = sqnr_db;
  for (const auto& o : outputs) keep_min(worst, o.sqnr_db);
  return worst;
}

Metric parse_metric(const std::string& name) {
  for (size_t i = 0; i < kMetricNames.size(); ++i)
    if (kMetricNames[i] == name) return static_cast<Metric>(i);
  throw InputError(fmt::format("unknown metric '{}' (expected {})", name, fmt::join(kMetricNames, ", ")));
}

const char* metric_name(Metric metric) { return kMetricNames.at(static_cast<size_t>(metric)).c_str(); }

Metric default_metric(const Dataset& eval, bool points_budget) {
  if (eval.has_labels()) return eval.labels.dim() == 2 ? Metric::Token : Metric::Top1;
  return points_budget ? Metric::Top1 : Metric::Sqnr;
}

std::optional<Score> score_of(const EvalResult& r, const Dataset& data, std::optional<Metric> requested) {
  Metric m;
  if (requested) {
    m = *requested;
  } else if (r.accuracy) {
    m = r.language_model ? Metric::Token : Metric::Top1;
  } else if (r.agreement) {
    m = Metric::Sqnr;
  } else {
    return std::nullopt;
  }
  switch (m) {
    case Metric::Top1:
      if (r.accuracy) return Score{m, *r.accuracy};
      if (r.agreement) return Score{m, r.agreement->top1_match};
      throw InputError(fmt::format("metric top1 needs labels in '{}' or a reference model to agree with", data.source));
    case Metric::Token:
      if (r.language_model && r.accuracy) return Score{m, *r.accuracy};
      throw InputError(fmt::format("metric token needs per-token labels [N, T] in '{}'", data.source));
    case Metric::Sqnr:
    case Metric::Cosine:
      if (!r.agreement)
        throw InputError(fmt::format("metric {} compares with a reference model (give the original with --reference)",
                                     metric_name(m)));
      return Score{m, m == Metric::Sqnr ? r.agreement->worst_sqnr_db() : r.agreement->mean_cosine};
  }
  return std::nullopt;
}

QualityLoss::QualityLoss(const Model& reference, const Dataset& eval, Metric metric)
    : reference_(reference), eval_(eval), metric_(metric) {
  switch (metric) {
    case Metric::Top1: name_ = eval.has_labels() ? "accuracy" : "agreement"; break;
    case Metric::Token:
      if (!eval.has_labels() || eval.labels.dim() != 2)
        throw InputError(fmt::format("metric token needs per-token labels [N, T] in '{}' (use sqnr or cosine without them)",
                                     eval.source));
      name_ = "token-accuracy";
      break;
    case Metric::Sqnr: name_ = "sqnr"; break;
    case Metric::Cosine: name_ = "cosine"; break;
  }
  if (name_ == "accuracy" || name_ == "token-accuracy") reference_accuracy_ = evaluate(reference, eval).accuracy.value();
  if (name_ == "sqnr") reference_accuracy_ = -kSqnrCapDb;
}

double QualityLoss::operator()(const Model& model) const {
  if (name_ == "accuracy" || name_ == "token-accuracy") return reference_accuracy_ - evaluate(model, eval_).accuracy.value();
  EvalOptions options;
  options.reference = &reference_;
  const Agreement a = *evaluate(model, eval_, options).agreement;
  switch (metric_) {
    case Metric::Sqnr: return -a.worst_sqnr_db();
    case Metric::Cosine: return 1.0 - a.mean_cosine;
    default: return 1.0 - a.top1_match;
  }
}

void to_json(nlohmann::json& j, const EvalResult& r) {
  j = {{"samples", r.samples},
       {"accuracy", r.accuracy ? nlohmann::json(*r.accuracy) : nlohmann::json(nullptr)},
       {"output", {{"name", r.output.name}, {"mean", r.output.mean}, {"std", r.output.std},
                   {"min", r.output.min}, {"max", r.output.max}}},
       {"agreement", nullptr},
       {"language_model", nullptr}};
  if (r.language_model)
    j["language_model"] = {{"tokens", r.language_model->tokens}, {"cross_entropy", r.language_model->cross_entropy},
                           {"perplexity", r.language_model->perplexity}};
  if (r.agreement)
    j["agreement"] = {{"top1_match", r.agreement->top1_match}, {"mean_cosine", r.agreement->mean_cosine},
                      {"max_abs_error", r.agreement->max_abs_error}, {"sqnr_db", r.agreement->sqnr_db},
                      {"worst_sqnr_db", r.agreement->worst_sqnr_db()}, {"outputs", nlohmann::json::array()}};
  if (r.agreement)
    for (const auto& o : r.agreement->outputs)
      j["agreement"]["outputs"].push_back({{"name", o.name}, {"sqnr_db", o.sqnr_db}});
}

}  // namespace edgepack
