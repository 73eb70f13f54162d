// compress: one model in, one artifact folder per target device out, each sized to the target's
// envelope (docs/compress.md). The steps, in order:
//   1. lock the output's parent folder, sweep what dead runs left, refuse an existing folder
//      unless `force`;
//   2. load the model and the data (calibration batches from `data`, accuracy on `eval_data`);
//   3. per target: plan (compress/planner.h, or the given pipeline), canonicalize, build through a
//      prefix cache (each distinct pipeline prefix is computed once across targets), save the
//      artifact, estimate it on the target, time it on this machine against the input model, check
//      the gates, write manifest.json and reports;
//   4. write summary.json/.md/.html and publish the staged folder whole (export/artifact_folder.h).
// An InputError before step 3 leaves nothing behind; any error after it removes the staging
// folder and leaves a previous result as it was.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compress/manifest.h"
#include "compress/planner.h"
#include "core/model_loader.h"

namespace edgepack {

struct CompressRequest {
  std::string model;
  LoadOptions load;                 // TorchScript input shapes
  std::vector<std::string> targets; // profile ids
  std::string target_file;          // adds or overrides profiles (docs/targets.md); "" = built-ins
  std::string data;                 // calibration and training data
  std::string eval_data;            // accuracy before/after; "" = none
  std::string out;                  // the output folder
  std::string pipeline;             // for every target instead of planning; "" = planned
  Budgets budgets;
  int64_t calib_samples = 256;
  int64_t epochs = 3;               // distillation (or label-free fine-tune) epochs of a shrinking plan
  bool allow_unrecovered = false;   // without labels, prune a model finetune cannot recover (PlanOptions)
  bool force = false;               // replace an existing output folder whole
  // Timed runs of each artifact on this machine, interleaved with the input model (manifest
  // "host"); 0 = no host measurement.
  int host_repeat = 10;
};

struct CompressResult {
  Summary summary;
  std::vector<Manifest> manifests;  // in the order of the targets
};

// Refuses a request that cannot run (no targets, data or output; an accuracy gate without labelled
// eval data is found after loading) with an InputError naming the missing setting.
void check_request(const CompressRequest& request);

// Runs the request (the steps above). `log` receives progress lines (nullptr: none); `quiet`
// silences the passes' own progress; `progress` (PassContext::progress) gets the passes' long
// steps and "targets" (one unit per target built). The result's summary.passed says whether
// every gate held.
CompressResult compress(const CompressRequest& request, const std::function<void(const std::string&)>& log = nullptr,
                        bool quiet = false,
                        const std::function<void(const std::string&, int64_t, int64_t, const std::string&)>& progress = nullptr);

}  // namespace edgepack
