// The compress planner: for one target, the least aggressive pipeline whose cost-model estimate
// fits the target's envelope (weights + peak activations within RAM) and the user's budgets
// (latency, size, memory). Quantization first (INT8 QDQ), then shrinking: structured pruning to
// a MACs budget recovered by distillation from the original (Minitron's prune-then-distil; without
// labels, a label-free fine-tune from the original for class-score outputs), at
// decreasing MACs fractions until the estimate fits. Each candidate is estimated on its
// structure alone (pruning is cheap, training is not), so only the chosen one is trained.
// What the planner built on the way (the folded model; the pruned model of a label-free
// shrinking plan) comes back with the plan, so compress does not compute it a second time.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/ir.h"
#include "core/targets.h"
#include "passes/pipeline.h"

namespace edgepack {

struct Budgets {
  std::optional<double> max_latency_ms;
  std::optional<double> max_size_mb;        // artifact file, MiB
  std::optional<double> max_memory_mb;      // weights + peak activations, MiB
  std::optional<double> max_accuracy_drop;  // points; checked after building, not planned
  std::optional<double> min_sqnr_db;        // output 0 against the input model (core/evaluate.h); after building
};

struct PlanCandidate {
  std::string pipeline;
  int64_t macs = 0;
  int64_t size_bytes = 0;                   // estimated artifact bytes (INT8 weights)
  double latency_ms = 0;
  int64_t memory_bytes = 0;
  bool fits = false;
  std::string why;                          // which limit it misses, or "meets every budget"
};

// A model after the first steps of a canonical pipeline, with those steps' reports.
struct BuiltPrefix {
  Pipeline steps;
  Model model;
  std::vector<StepReport> reports;
};

struct Plan {
  std::string pipeline;                     // the chosen one
  std::string reason;
  bool feasible = false;                    // false: even the most aggressive candidate misses
  std::vector<PlanCandidate> candidates;    // in the order tried
  // Prefixes of canonicalize(pipeline) the planner computed, shortest first: exactly what running
  // those steps would give, so a build may start from the longest.
  std::vector<BuiltPrefix> built;
};

struct PlanOptions {
  std::string quantize = "quantize{calib=percentile}";
  bool can_train = false;                   // labelled data: shrinking is recovered by distillation
  // Without labels, a pruned model is recovered by finetune from the original on its own
  // outputs: KD on class scores, output matching on maps, boxes and embeddings. A model with no
  // float output has no recovery, so shrinking it is planned only when this allows it.
  bool allow_unrecovered = false;
  int64_t epochs = 3;                       // distillation epochs of a shrinking candidate
  // Samples in the training data (0 = not known). A label-free fine-tune of a small set takes
  // batches of samples / 8 (1 to 64), so that each epoch is at least 8 optimizer steps.
  int64_t train_samples = 0;
  std::vector<double> macs_fractions = {0.75, 0.5, 0.35, 0.25, 0.15, 0.1};
  // The first `skip` candidates count as missing: their artifact was built and missed a budget
  // the estimate said it met, so compress asks for the next one.
  size_t skip = 0;
};

// `context` is the one the plan will be built with (its log is not used: planning is quiet).
Plan plan_compression(const Model& model, const TargetProfile& target, const Budgets& budgets, const PlanOptions& options = {},
                      const PassContext& context = {});

// The estimate of one pipeline's artifact on a target, from its structure: `built` is the model
// after the pipeline's structural steps (or the artifact itself).
PlanCandidate estimate_candidate(const Model& built, const std::string& pipeline, const TargetProfile& target,
                                 const Budgets& budgets);

}  // namespace edgepack
