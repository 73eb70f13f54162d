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

// What a compressed model loses against its original on one dataset: top-1 accuracy (a
// fraction) when the data has labels, else top-1 disagreement with the original's predictions;
// or, with `sqnr`, minus the SQNR of output 0 in dB (lower is better in every metric), which needs
// no labels and means something for any output (maps, boxes, embeddings).
class QualityLoss {
 public:
  QualityLoss(const Model& reference, const Dataset& eval, bool sqnr = false);
  const std::string& metric() const { return metric_; }        // "accuracy", "agreement" or "sqnr"
  double reference_accuracy() const { return reference_accuracy_; }  // 1.0 for agreement
  double operator()(const Model& model) const;

 private:
  const Model& reference_;
  const Dataset& eval_;
  std::string metric_;
  double reference_accuracy_ = 1.0;
};

// {"samples", "accuracy" (null without labels), "output": {...}, "agreement": {...} or null,
//  "language_model": {"tokens", "cross_entropy", "perplexity"} or null}.
void to_json(nlohmann::json& j, const EvalResult& r);

}  // namespace edgepack
