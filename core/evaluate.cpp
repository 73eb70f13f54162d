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

// Output 0 of a model for a batch, fed in pieces of its fixed batch size when it has one: a short
// last piece is padded by repeating its final sample and the padding's outputs are dropped.
class Runner {
 public:
  explicit Runner(const Model& model) : model_(model), executor_(model), fixed_(max_batch(model)) {}

  at::Tensor run(const std::map<std::string, at::Tensor>& feeds, int64_t count) {
    if (!fixed_) return checked(executor_.run(feeds), count);
    std::vector<at::Tensor> parts;
    for (int64_t s = 0; s < count; s += fixed_) {
      at::Tensor rows = at::arange(s, s + fixed_, at::kLong).clamp_max(count - 1);
      std::map<std::string, at::Tensor> piece;
      for (const auto& [name, t] : feeds) piece[name] = t.index_select(0, rows);
      parts.push_back(checked(executor_.run(piece), fixed_).slice(0, 0, std::min(fixed_, count - s)));
    }
    return at::cat(parts);
  }

 private:
  at::Tensor checked(const std::map<std::string, at::Tensor>& outputs, int64_t count) const {
    const std::string& name = model_.graph.outputs.at(0).name;
    const at::Tensor& y = outputs.at(name);
    if (y.dim() == 0 || y.size(0) != count || y.numel() == 0)
      throw InputError(fmt::format("output '{}' has shape [{}] for {} sample(s); evaluation needs one non-empty "
                                   "row per sample along its first dimension", name, fmt::join(y.sizes(), ","), count));
    return y;
  }

  const Model& model_;
  Executor executor_;
  int64_t fixed_;
};

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
  double cosine_sum = 0, max_err = 0, signal = 0, noise = 0;
  // Mean and squared deviations merged batch by batch (Chan et al.): stable over millions of values.
  double count = 0, mean = 0, m2 = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t s = 0; s < data.samples; s += step) {
    Dataset::Batch b = data.batch(s, step);
    const int64_t n = std::min(step, data.samples - s);
    at::Tensor y = runner.run(b.feeds, n).to(at::kDouble);
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
      at::Tensor z = reference->run(b.feeds, n);
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
      signal += z.pow(2).sum().item<double>();
      noise += (y - z).pow(2).sum().item<double>();
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
    const double sqnr = noise == 0 ? kSqnrCapDb : signal == 0 ? -kSqnrCapDb : 10 * std::log10(signal / noise);
    r.agreement = Agreement{static_cast<double>(same) / total, cosine_sum / total, max_err, std::clamp(sqnr, -kSqnrCapDb, kSqnrCapDb)};
  }
  return r;
}

QualityLoss::QualityLoss(const Model& reference, const Dataset& eval, bool sqnr)
    : reference_(reference), eval_(eval), metric_(sqnr ? "sqnr" : eval.has_labels() ? "accuracy" : "agreement") {
  if (metric_ == "accuracy") reference_accuracy_ = evaluate(reference, eval).accuracy.value();
  if (metric_ == "sqnr") reference_accuracy_ = -kSqnrCapDb;
}

double QualityLoss::operator()(const Model& model) const {
  if (metric_ == "accuracy") return reference_accuracy_ - evaluate(model, eval_).accuracy.value();
  EvalOptions options;
  options.reference = &reference_;
  const Agreement a = *evaluate(model, eval_, options).agreement;
  return metric_ == "sqnr" ? -a.sqnr_db : 1.0 - a.top1_match;
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
                      {"max_abs_error", r.agreement->max_abs_error}, {"sqnr_db", r.agreement->sqnr_db}};
}

}  // namespace edgepack
