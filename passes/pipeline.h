// Pipelines as text, MLIR style: `fold-bn,prune{ratio=0.5 criterion=l1},quantize{calib=entropy}`.
// Parsing validates pass and option names and option values against the declarations and
// reports errors with their column; print() gives the canonical form (options in declaration
// order), and parse(print(p)) == p.
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

struct StepReport {
  std::string pass;
  std::string canonical;     // e.g. "quantize{calib=entropy}"
  PassResult result;
  double seconds = 0;
};

// Runs each step in order; a failing pass stops the pipeline (its exception propagates,
// prefixed with the pass name).
std::vector<StepReport> run_pipeline(Model& model, const Pipeline& pipeline, PassContext& context);

}  // namespace edgepack
