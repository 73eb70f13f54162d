// What `compress` writes about its work, as structs: manifest.json (one per artifact folder) and
// summary.json (one per run). The builder fills them, `to_json` is the only writer of either file
// and `*_from_json` reads one back strictly (InputError naming what is wrong), so a test can build
// a manifest, write it and read it back field for field. docs/compress.md gives the schema.
//
// The HTML/Markdown renderers (export/report.h) take the JSON, not these structs, on purpose:
// they must render a partial or older manifest without throwing, which a strict reader refuses.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compress/planner.h"
#include "export/report.h"   // the schema names

namespace edgepack {


struct FileFacts {
  std::string path;            // "path" for the input, "file" (relative to the folder) for the output
  std::string sha256;          // "sha256:<hex>"
  int64_t bytes = 0;
};

struct TargetFacts {           // the profile figures the estimate used
  std::string id, name;
  double int8_tops = 0;
  std::string int8_tops_confidence;
  double bandwidth_gbps = 0;
  double ram_mb = 0;
  std::vector<std::string> precisions;
};

struct StepFacts {             // one pipeline step as it ran
  std::string pass, canonical;
  double seconds = 0;
  std::map<std::string, double> stats;
  nlohmann::json details;      // null when the pass reported none
};

struct ModelFacts {            // before: the input on the target; after: the artifact
  int64_t params = 0, macs = 0, bytes = 0;
  double latency_ms = 0;
  int64_t memory_bytes = 0;
  std::optional<double> accuracy;
  // After only (the estimate's detail): absent from "before".
  double compute_ms = 0, memory_ms = 0;
  std::string bound;
  int64_t ram_bytes = 0;
  bool fits_ram = false;
};

struct AccuracyFacts {
  std::string metric = "top-1";
  std::optional<double> before, after;   // fractions; set when eval data has labels
  std::optional<int64_t> eval_samples;
  std::optional<std::string> eval_digest;
  // Points lost (negative: gained), when both are known.
  std::optional<double> drop_points() const;
};

// The artifact against the input model on the same samples (core/evaluate.h Agreement), with or
// without labels: what a label-free user can check.
struct FidelityFacts {
  std::string data;            // "eval" (--eval-data) or "calibration" (when no eval data)
  int64_t samples = 0;
  double sqnr_db = 0;          // the least faithful float output, dB
  double mean_cosine = 0;
  double top1_match = 0;       // argmax agreement (meaningful for class scores)
  double max_abs_error = 0;
};

// The artifact timed on the machine compress ran on, in edgepack's executor (core/benchmark.h),
// interleaved with the input model in one run, so their ratio holds on a loaded machine. A check
// anyone can repeat with `edgepack bench`, not the target's latency: the estimate is that.
struct HostFacts {
  std::string cpu;             // /proc/cpuinfo's model name
  int threads = 0;             // intra-op threads
  int64_t batch = 1;
  int repeat = 0;              // timed runs of each model
  double median_ms = 0, p90_ms = 0, min_ms = 0;   // the artifact
  double input_median_ms = 0;  // the input model, in the same run
  int64_t run_memory_bytes = -1, input_run_memory_bytes = -1;   // -1: not measurable here
  // input_median_ms / median_ms: above 1, the artifact runs faster here.
  double speedup() const { return median_ms > 0 ? input_median_ms / median_ms : 0; }
};

struct Gate {
  std::string name;            // e.g. "max-latency-ms", "fits-ram"
  double limit = 0, value = 0;
  bool passed = false;
};

struct LayerFacts {
  std::string name, op;
  int64_t macs = 0, bytes = 0;
};

struct Manifest {
  std::string version;         // edgepack's
  std::string created;         // UTC, ISO 8601
  TargetFacts target;
  FileFacts input, output;
  std::map<std::string, std::string> input_shapes;   // the shape costed and gated, e.g. "?x3x320x320" ('?': batch taken as 1)
  std::string pipeline;        // canonical
  std::vector<StepFacts> passes;
  Budgets budgets;
  std::string plan_reason;
  std::vector<PlanCandidate> candidates;
  ModelFacts before, after;
  AccuracyFacts accuracy;
  FidelityFacts fidelity;
  std::optional<HostFacts> host;   // absent when compress ran with host_repeat 0
  int64_t calibration_samples = 0;
  std::string calibration_digest;
  std::vector<Gate> gates;
  bool passed = false;
  std::vector<LayerFacts> layers;
};

struct SummaryTarget {
  std::string id, name, pipeline;
  int64_t bytes = 0;
  double latency_ms = 0;
  int64_t memory_bytes = 0, ram_bytes = 0;
  std::optional<double> accuracy_before, accuracy_after;
  double sqnr_db = 0;          // the manifest's fidelity
  bool passed = false;
  std::string dir;             // the artifact folder, relative to the output folder
  std::optional<double> host_ms, host_speedup;   // the manifest's host median and speedup
};

struct Summary {
  std::string version;
  FileFacts input;
  Budgets budgets;             // drawn against every target by the summary chart
  std::vector<SummaryTarget> targets;
  bool passed = false;
};

// Every gate passed.
bool gates_passed(const std::vector<Gate>& gates);

nlohmann::json to_json(const Manifest& m);
nlohmann::json to_json(const Summary& s);
nlohmann::json to_json(const Budgets& b);
// Strict: a missing or wrongly typed field, or another schema, is an InputError naming it.
Manifest manifest_from_json(const nlohmann::json& j);
Summary summary_from_json(const nlohmann::json& j);

}  // namespace edgepack
