// The pass interface. A pass is a typed function `PassResult f(Model&, const Settings&,
// PassContext&)` plus its declaration (PassInfo): name, one-line summary, a description paragraph,
// its options (passes/options.h, bound to the Settings fields) and the canonicalisation it needs
// first (e.g. quantize needs fold-constants and fold-bn), which the pipeline makes explicit
// (passes/pipeline.h: canonicalize) instead of each pass doing it out of sight.
// Passes call each other through their typed functions (prune(model, PruneSettings{...}, ctx)),
// never through pipeline text. A pass throws InputError/Error with a message a user can act on
// when it cannot run.
// The registry follows MLIR's registerAllPasses: passes/ holds the registry and knows no pass
// folder; the list of every pass lives above them (compress/all_passes.h), and a program calls
// register_all_passes() once before it reads the registry.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ir.h"
#include "passes/options.h"

namespace edgepack {

struct Dataset;
struct TargetProfile;
namespace distill {
class Communicator;
}

using Feeds = std::map<std::string, at::Tensor>;

// What a pass may use besides the model (DESIGN.md: target, data, evaluator, progress, work folder).
struct PassContext {
  // The device the pipeline builds for (compress sets it); nullptr when there is none.
  const TargetProfile* target = nullptr;
  // Calibration batches (graph input name -> tensor), when the user gave data.
  std::vector<Feeds> calibration;
  // Labelled (or not) training data: distillation, recovery fine-tune.
  const Dataset* train = nullptr;
  // The data quality is measured on (the evaluator: accuracy with labels, else agreement with
  // the uncompressed model; core/evaluate.h QualityLoss): sensitivity, mixed precision, reports.
  const Dataset* eval = nullptr;
  // What quality is measured on: `eval`, else the training data.
  const Dataset* quality_data() const { return eval ? eval : train; }
  // The model the pipeline started from (run_pipeline sets it when a step needs it): the
  // teacher of a recovery fine-tune.
  const Model* original = nullptr;
  // Progress lines; may be empty. `quiet`: no progress bars either.
  std::function<void(const std::string&)> log;
  bool quiet = false;
  // Progress of a long step: `task` ("calibration"), units done and in all, and a status ("45.1
  // samples/s"); called after each unit and once with done == total. The CLI draws a bar per
  // task (core/progress.h). May be empty; use report_progress.
  std::function<void(const std::string& task, int64_t done, int64_t total, const std::string& status)> progress;
  void report_progress(const std::string& task, int64_t done, int64_t total, const std::string& status = "") const {
    if (progress) progress(task, done, total, status);
  }
  // A folder for checkpoints; `resume` continues a killed run from it.
  std::string work_dir;
  bool resume = false;
  // The data-parallel group of a training pass (nullptr = alone).
  distill::Communicator* comm = nullptr;
};

// What a pass reports: `stats` are numbers (folded_nodes, quantized_nodes ...); `details` is the
// report sink for structured results (sensitivity tables, chosen per-layer ratios), which the
// CLI prints and compress writes into the manifest.
struct PassResult {
  bool changed = false;
  std::map<std::string, double> stats;
  nlohmann::json details = nlohmann::json::object();
};

struct PassInfo {
  std::string name;                       // kebab-case, e.g. "fold-bn"
  std::string summary;                    // one line
  std::string description;                // a paragraph: what it does, what it needs, the math
  std::vector<OptionSpec> options;
  std::vector<std::string> runs_after;      // canonicalisation passes that must run right before it
  bool needs_original = false;            // reads PassContext::original
  // Runs the pass with the explicit option values of a pipeline step (validated on parse).
  std::function<PassResult(Model&, const std::map<std::string, std::string>&, PassContext&)> run;
};

// The settings of a pass without options.
struct NoSettings {};
const OptionTable<NoSettings>& no_options();

// Declares a pass from its option table and typed function.
template <class S>
PassInfo make_pass(std::string name, std::string summary, std::string description, const OptionTable<S>& table,
                   PassResult (*run)(Model&, const S&, PassContext&), std::vector<std::string> runs_after = {}) {
  PassInfo info{std::move(name), std::move(summary), std::move(description), table.specs(), std::move(runs_after), false, {}};
  info.run = [table, run](Model& model, const std::map<std::string, std::string>& values, PassContext& context) {
    return run(model, table.parse(values), context);
  };
  return info;
}

// Adds a pass to the registry (InputError-free: an internal Error on a duplicate name).
void register_pass(PassInfo info);
// Every registered pass, in registration order; an internal Error when none is (a program
// forgot register_all_passes()).
const std::vector<PassInfo>& pass_registry();
// InputError naming the pass and the known ones when absent.
const PassInfo& find_pass(const std::string& name);

// An `exclude` option's entries must each name a node or an op type of `model`: a typo would
// otherwise exclude nothing without a word. InputError naming the entry and close matches.
void check_exclude(const Model& model, const std::vector<std::string>& exclude);

}  // namespace edgepack
