// Host latency of models in our executor: what `edgepack bench` and compress's host
// measurement report.
//
// Each model runs on synthetic inputs of its bound shapes (floats uniform in [0, 1) from a seeded
// generator, integer inputs 0, booleans false): `warmup` untimed runs (the first of every model
// before any other run, so one-time process costs such as thread pools land there), one more
// untimed run that measures memory, then `repeat` timed runs. Several models are timed
// interleaved (A B A B ...), so a load change on the machine hits them alike and their ratio
// stays honest. Per model:
//   median, p90, min, mean of the timed runs (wall clock, ms), samples/s = batch / median;
//   run memory: the most resident memory one inference adds above what the process held just
//     before it (activations and workspace; Linux: malloc_trim, then /proc/self/clear_refs
//     resets the high-water mark; VmHWM - VmRSS), -1 where it cannot be measured;
//   weight bytes: the initializers as the model holds them.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

struct BenchOptions {
  int warmup = 3;           // >= 1
  int repeat = 20;
  uint64_t seed = 0;
  // Called after each run: model index, its runs done and its runs in all (warmup + 1 + repeat).
  std::function<void(size_t model, int done, int total)> progress;
};

struct BenchStats {
  double median_ms = 0, p90_ms = 0, min_ms = 0, mean_ms = 0;
  int64_t batch = 1;        // dim 0 of the first input
  double samples_per_s = 0;
  int64_t run_memory_bytes = -1;
  int64_t weight_bytes = 0;
  std::vector<double> times_ms;   // the timed runs, in order
};

// Binds every free dim 0 of the runtime inputs to `batch` (0: to 1). InputError naming an input
// whose fixed dim 0 differs from a given batch, one without a declared shape, or any other free
// dim (--input-shape binds those).
void bind_batch(Model& model, int64_t batch);
// The synthetic feeds described above, for the model's bound input shapes.
std::map<std::string, at::Tensor> synthetic_feeds(const Model& model, uint64_t seed);
// Times `models` (already bound: bind_batch) interleaved. InputError when repeat < 1 or
// warmup < 1.
std::vector<BenchStats> bench_models(const std::vector<const Model*>& models, const BenchOptions& options);

}  // namespace edgepack
