// Pipelines as text, MLIR style: `fold-bn,prune{ratio=0.5 criterion=l1},quantize{calib=entropy}`.
// Parsing validates pass and option names and option values (type, choices, range) against the
// declarations and reports errors with their column; print() gives the options in declaration
// order, and parse(print(p)) == p. canonicalize() makes each pass's canonicalisation explicit:
//   quantize{calib=entropy}  ->  fold-constants,fold-bn,quantize{calib=entropy}
// (the passes it `requires`, inserted unless they are the steps right before it), so the
// canonical pipeline, the manifest and the prefix cache see every step that runs.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace edgepack {

struct PipelineStep {
  std::string pass;
  std::map<std::string, std::string> options;   // only those given explicitly
  bool operator==(const PipelineStep& o) const { return pass == o.pass && options == o.options; }
};

using Pipeline = std::vector<PipelineStep>;

// Throws InputError "pipeline column N: ..." on a syntax error, an unknown pass or option, or a
// value of the wrong type.
Pipeline parse_pipeline(const std::string& text);
std::string print_pipeline(const Pipeline& pipeline);
// Inserts the required canonicalisation steps; canonicalize(canonicalize(p)) == canonicalize(p).
Pipeline canonicalize(const Pipeline& pipeline);

// A step from a pass's typed settings (only the options that differ from the defaults).
template <class S>
PipelineStep make_step(const std::string& pass, const OptionTable<S>& table, const S& settings) {
  return PipelineStep{pass, table.to_step(settings)};
}

struct StepReport {
  std::string pass;
  std::string canonical;     // e.g. "quantize{calib=entropy}"
  PassResult result;
  double seconds = 0;
};

// Runs one step as written (no canonicalisation); errors are prefixed with the pass name.
StepReport run_step(Model& model, const PipelineStep& step, PassContext& context);

// [{"pass", "canonical", "seconds", "stats", "details" (when a pass reported any)}].
nlohmann::json steps_json(const std::vector<StepReport>& steps);

// Runs canonicalize(pipeline) step by step, one report per step that ran; a failing pass stops
// the pipeline (its exception propagates, prefixed with the pass name). A step that needs the
// original model gets the input model when the context names none.
std::vector<StepReport> run_pipeline(Model& model, const Pipeline& pipeline, PassContext& context);

}  // namespace edgepack
