#include "compress/planner.h"

#include <fmt/format.h>

#include "core/cost_model.h"
#include "passes/fold_constants.h"
#include "distill/distill_pass.h"
#include "passes/pipeline.h"
#include "passes/prune.h"

namespace edgepack {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string mb(double bytes) { return fmt::format("{:.2f} MiB", bytes / kMiB); }

}  // namespace

PlanCandidate estimate_candidate(const Model& built, const std::string& pipeline, const TargetProfile& target,
                                 const Budgets& budgets) {
  const ModelCost cost = analyze_model(built);
  const CostEstimate e = estimate_cost(cost, target, EstimateOptions{Precision::Int8});
  PlanCandidate c;
  c.pipeline = pipeline;
  c.macs = cost.totals.macs;
  c.size_bytes = cost.totals.int8_bytes;
  c.latency_ms = e.latency_ms;
  c.memory_bytes = e.memory_bytes;
  std::vector<std::string> misses;
  if (!e.fits) misses.push_back(fmt::format("memory {} > RAM {}", mb(e.memory_bytes), mb(e.ram_bytes)));
  if (budgets.max_latency_ms && c.latency_ms > *budgets.max_latency_ms)
    misses.push_back(fmt::format("latency {:.2f} ms > {:g} ms", c.latency_ms, *budgets.max_latency_ms));
  if (budgets.max_size_mb && c.size_bytes > *budgets.max_size_mb * kMiB)
    misses.push_back(fmt::format("size {} > {:g} MiB", mb(c.size_bytes), *budgets.max_size_mb));
  if (budgets.max_memory_mb && c.memory_bytes > *budgets.max_memory_mb * kMiB)
    misses.push_back(fmt::format("memory {} > {:g} MiB", mb(c.memory_bytes), *budgets.max_memory_mb));
  c.fits = misses.empty();
  c.why = c.fits ? "meets every budget" : fmt::format("{}", fmt::join(misses, "; "));
  return c;
}

Plan plan_compression(const Model& model, const TargetProfile& target, const Budgets& budgets, const PlanOptions& o) {
  Model folded = model;
  fold_constants(folded);
  Plan plan;
  // Plain INT8: quantization changes bytes, not structure, so the folded model is its shape.
  plan.candidates.push_back(estimate_candidate(folded, o.quantize, target, budgets));
  for (double f : o.macs_fractions) {
    if (plan.candidates.back().fits) break;
    // Estimated on its structure: the pruned model (distillation trains a student of that shape).
    PruneSettings width;
    width.target_macs = f;
    Model pruned = folded;
    PassContext none;
    prune(pruned, width, none);
    PipelineStep shrink = make_step("prune", prune_options(), width);
    if (o.can_train) {
      distill::DistillSettings student;
      student.target_macs = f;
      student.epochs = o.epochs;
      shrink = make_step("distill", distill::distill_options(), student);
    }
    plan.candidates.push_back(estimate_candidate(pruned, print_pipeline({shrink}) + "," + o.quantize, target, budgets));
  }
  const PlanCandidate& chosen = plan.candidates.back();
  plan.pipeline = chosen.pipeline;
  plan.feasible = chosen.fits;
  const PlanCandidate& first = plan.candidates.front();
  if (plan.candidates.size() == 1 && chosen.fits) {
    plan.reason = fmt::format("plain INT8 meets every budget on {} (estimated {:.2f} ms, {} of memory)", target.id,
                              chosen.latency_ms, mb(chosen.memory_bytes));
  } else if (chosen.fits) {
    plan.reason = fmt::format("plain INT8 misses on {} ({}); shrinking to {:.0f}% of the MACs{} meets every budget "
                              "(estimated {:.2f} ms)",
                              target.id, first.why, 100.0 * chosen.macs / std::max<int64_t>(first.macs, 1),
                              o.can_train ? " with distillation from the original" : " (no labelled data: pruning without recovery)",
                              chosen.latency_ms);
  } else {
    plan.reason = fmt::format("no candidate fits {}: even {:.0f}% of the MACs misses ({}); the most aggressive one is built "
                              "and marked failing",
                              target.id, 100.0 * chosen.macs / std::max<int64_t>(first.macs, 1), chosen.why);
  }
  return plan;
}

}  // namespace edgepack
