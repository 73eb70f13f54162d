#include "compress/planner.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/cost_model.h"
#include "core/human_format.h"
#include "distill/distill_pass.h"
#include "distill/finetune.h"
#include "passes/pipeline.h"
#include "passes/prune.h"

namespace edgepack {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string mb(double bytes) { return human_bytes(bytes); }
std::string ms(double v) { return human_ms(v); }

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
    misses.push_back(fmt::format("latency {} > {}", ms(c.latency_ms), ms(*budgets.max_latency_ms)));
  if (budgets.max_size_mb && c.size_bytes > *budgets.max_size_mb * kMiB)
    misses.push_back(fmt::format("size {} > {:g} MiB", mb(c.size_bytes), *budgets.max_size_mb));
  if (budgets.max_memory_mb && c.memory_bytes > *budgets.max_memory_mb * kMiB)
    misses.push_back(fmt::format("memory {} > {:g} MiB", mb(c.memory_bytes), *budgets.max_memory_mb));
  c.fits = misses.empty();
  c.why = c.fits ? "meets every budget" : fmt::format("{}", fmt::join(misses, "; "));
  return c;
}

Plan plan_compression(const Model& model, const TargetProfile& target, const Budgets& budgets, const PlanOptions& o,
                      const PassContext& context) {
  PassContext quiet = context;
  quiet.log = nullptr;
  quiet.quiet = true;
  // Every candidate starts with fold-constants (each pass runs after it), so it is run once here.
  BuiltPrefix folded{{make_step("fold-constants", no_options(), NoSettings{})}, model, {}};
  folded.reports.push_back(run_step(folded.model, folded.steps[0], quiet));
  Plan plan;
  // Plain INT8: quantization changes bytes, not structure, so the folded model is its shape.
  auto add = [&](PlanCandidate c) {
    if (plan.candidates.size() < o.skip) {
      c.fits = false;
      c.why = "built, and the artifact missed a budget the estimate met";
    }
    plan.candidates.push_back(std::move(c));
  };
  add(estimate_candidate(folded.model, o.quantize, target, budgets));
  std::optional<BuiltPrefix> shrunk;   // the last shrinking candidate's structure
  // How a shrunk model is recovered: distillation (labels), a label-free fine-tune from the
  // original on its own outputs, or not at all (no float output to match: then shrinking is
  // planned only when allowed).
  const bool finetune = !o.can_train && distill::has_float_output(model);
  const bool unrecovered = !o.can_train && !finetune;
  for (double f : o.macs_fractions) {
    if (unrecovered && !o.allow_unrecovered) break;
    if (plan.candidates.back().fits) break;
    // Estimated on its structure: the pruned model (distillation trains a student of that shape).
    PruneSettings width;
    width.target_macs = f;
    const PipelineStep prune_step = make_step("prune", prune_options(), width);
    shrunk = folded;
    shrunk->steps.push_back(prune_step);
    shrunk->reports.push_back(run_step(shrunk->model, prune_step, quiet));
    PipelineStep shrink = prune_step;
    if (o.can_train) {
      distill::DistillSettings student;
      student.target_macs = f;
      student.epochs = o.epochs;
      shrink = make_step("distill", distill::distill_options(), student);
    }
    std::string pipeline = print_pipeline({shrink});
    if (finetune) {
      distill::FinetuneSettings recovery;
      recovery.epochs = o.epochs;
      if (o.train_samples > 0) recovery.batch_size = std::clamp<int64_t>(o.train_samples / 8, 1, recovery.batch_size);
      pipeline += "," + print_pipeline({make_step("finetune", distill::finetune_options(), recovery)});
    }
    add(estimate_candidate(shrunk->model, pipeline + "," + o.quantize, target, budgets));
  }
  plan.built.push_back(std::move(folded));
  // A pruned prefix is the plan's own only when pruning is the shrinking step (not distillation,
  // which trains its student from the original).
  if (shrunk && !o.can_train) plan.built.push_back(std::move(*shrunk));
  const PlanCandidate& chosen = plan.candidates.back();
  plan.pipeline = chosen.pipeline;
  plan.feasible = chosen.fits;
  const PlanCandidate& first = plan.candidates.front();
  if (plan.candidates.size() == 1 && chosen.fits) {
    plan.reason = fmt::format("plain INT8 meets every budget on {} (estimated {}, {} of memory)", target.id,
                              ms(chosen.latency_ms), mb(chosen.memory_bytes));
  } else if (chosen.fits) {
    plan.reason = fmt::format("plain INT8 misses on {} ({}); shrinking to {:.0f}% of the MACs{} meets every budget "
                              "(estimated {})",
                              target.id, first.why, 100.0 * chosen.macs / std::max<int64_t>(first.macs, 1),
                              o.can_train ? " with distillation from the original"
                              : finetune  ? fmt::format(" recovered by a label-free fine-tune from the original ({})",
                                                            distill::score_output(model) ? "KD on its scores"
                                                                                         : "matching its outputs")
                                          : " (no labelled data and no float output: pruning without recovery, as allowed)",
                              ms(chosen.latency_ms));
  } else if (plan.candidates.size() == 1) {
    plan.reason = fmt::format("plain INT8 misses on {} ({}); shrinking is not planned: without labels, a pruned model with "
                              "no float output has no recovery (give labelled --data, or --allow-unrecovered to prune "
                              "anyway); plain INT8 is built and marked failing",
                              target.id, first.why);
  } else {
    plan.reason = fmt::format("no candidate fits {}: even {:.0f}% of the MACs misses ({}); the most aggressive one is built "
                              "and marked failing",
                              target.id, 100.0 * chosen.macs / std::max<int64_t>(first.macs, 1), chosen.why);
  }
  return plan;
}

}  // namespace edgepack
