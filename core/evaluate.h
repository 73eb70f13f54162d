// Runs a model over a Dataset: top-1 accuracy against the labels, statistics of output 0, and
// with a reference model (the original, before compression) how closely the two agree.
// A sample's prediction is the argmax over all of its output-0 values, i.e. over the classes for
// [N, C] and [N, C, 1, 1] outputs alike. Language models (output 0 [N, T, V], labels [N, T]: the
// next token at every position) are scored per token instead: top-1 token accuracy, the mean
// cross-entropy of the labels under softmax(output) and its exp, the perplexity.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/ir.h"

namespace edgepack {

struct EvalOptions {
  int64_t batch_size = 32;        // samples per run; models with a fixed batch dim get exactly that
  const Model* reference = nullptr;
  std::function<void(int64_t done, int64_t total)> progress;
};

struct OutputStats {
  std::string name;               // the graph's output 0
  double mean = 0, std = 0, min = 0, max = 0;  // over every element; std is the population std
};

struct Agreement {
  double top1_match = 0;          // fraction of samples with the same prediction
  double mean_cosine = 0;         // cosine similarity of each sample's output 0, averaged
  double max_abs_error = 0;       // over every element of output 0
  // Signal-to-quantization-noise ratio of output 0 against the reference's, over every element:
  // 10 log10(sum ref^2 / sum (out - ref)^2), in dB; the label-free fidelity of any output (a
  // probability map, boxes, embeddings), where top-1 match means nothing. kSqnrCapDb when equal.
  double sqnr_db = 0;
  // Every float output's SQNR (output 0 first), for models with several outputs (boxes and
  // scores); `sqnr_db` above is output 0's. worst_sqnr_db() is the least faithful one.
  struct OutputSqnr {
    std::string name;
    double sqnr_db = 0;
  };
  std::vector<OutputSqnr> outputs;
  double worst_sqnr_db() const;
};
inline constexpr double kSqnrCapDb = 200;

struct TokenMetrics {
  int64_t tokens = 0;             // N * T
  double cross_entropy = 0;       // mean over tokens, in nats
  double perplexity = 0;          // exp(cross_entropy)
};

struct EvalResult {
  int64_t samples = 0;
  std::optional<double> accuracy;     // fraction in [0, 1]; only when the dataset has labels (per token
                                      // for language models)
  std::optional<TokenMetrics> language_model;  // only for per-token labels [N, T]
  OutputStats output;
  std::optional<Agreement> agreement; // only with a reference model
};

// InputError when the dataset does not fit the model or the reference, when output 0 has no
// sample dimension, or when the reference's output 0 differs in shape.
EvalResult evaluate(const Model& model, const Dataset& data, const EvalOptions& options = {});

// How a compressed model is scored against its original (--metric on eval and quantize).
//   top1   top-1 accuracy with labels, else top-1 agreement with the original's predictions
//   token  per-token top-1 accuracy (labels [N, T], output [N, T, V])
//   sqnr   SQNR in dB of the least faithful float output against the original's; no labels,
//          and it means something for any output (maps, boxes, embeddings)
//   cosine mean per-sample cosine of output 0 against the original's; no labels
enum class Metric { Top1, Token, Sqnr, Cosine };
inline const std::vector<std::string> kMetricNames = {"top1", "token", "sqnr", "cosine"};
Metric parse_metric(const std::string& name);   // one of kMetricNames; InputError otherwise
const char* metric_name(Metric metric);
// --metric auto: token or top-1 accuracy when the data has labels (per-token labels: token);
// without labels SQNR, unless the budget is in accuracy points (then top-1 agreement).
Metric default_metric(const Dataset& eval, bool points_budget = false);

// One number for an evaluation under a metric (`eval --metric`): top1/token accuracy as a fraction
// (top-1 agreement with the reference without labels), SQNR in dB of the least faithful output,
// or mean cosine. `requested` empty = --metric auto: accuracy with labels, else SQNR with a
// reference, else no score (nullopt). InputError when the metric needs labels or a reference
// the evaluation lacks.
struct Score {
  Metric metric = Metric::Top1;
  double value = 0;
};
std::optional<Score> score_of(const EvalResult& result, const Dataset& data, std::optional<Metric> requested);

// What a compressed model loses against its original on one dataset under `metric`, lower is
// better in every metric: accuracy lost (a fraction), 1 - top-1 agreement, minus the SQNR in
// dB, or 1 - mean cosine. InputError when the metric needs labels the data lacks.
class QualityLoss {
 public:
  QualityLoss(const Model& reference, const Dataset& eval, Metric metric);
  // "accuracy", "token-accuracy", "agreement", "sqnr" or "cosine"
  const std::string& metric() const { return name_; }
  double reference_accuracy() const { return reference_accuracy_; }  // 1.0 for agreement
  double operator()(const Model& model) const;

 private:
  const Model& reference_;
  const Dataset& eval_;
  Metric metric_;
  std::string name_;
  double reference_accuracy_ = 1.0;
};

// {"samples", "accuracy" (null without labels), "output": {...}, "agreement": {...} or null,
//  "language_model": {"tokens", "cross_entropy", "perplexity"} or null}.
void to_json(nlohmann::json& j, const EvalResult& r);

}  // namespace edgepack
