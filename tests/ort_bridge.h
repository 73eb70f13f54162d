// Runs models in onnxruntime (the npm package onnxruntime-node, through scripts/node/ort_run.js)
// so tests and benchmarks can compare our executor with a real runtime on the same inputs.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace edgepack::test {

struct OrtJob {
  std::string model;                                      // path of an .onnx file
  std::vector<std::pair<std::string, at::Tensor>> inputs; // name -> tensor
};

struct OrtResult {
  std::string error;                  // onnxruntime's message when it refused the model
  std::vector<at::Tensor> outputs;    // in the model's output order
  std::vector<double> ms;             // wall time of each run
};

// The median of timed runs after dropping the first (warm-up); 0 when none.
double median_after_warmup(std::vector<double> ms);

// True when node and onnxruntime-node are installed (scripts/setup.sh does it).
bool onnxruntime_available();
// Runs every job in one node process (`repeat` runs each, `threads` intra-op threads).
std::vector<OrtResult> run_onnxruntime(const std::vector<OrtJob>& jobs, int threads = 1, int repeat = 1);

}  // namespace edgepack::test
