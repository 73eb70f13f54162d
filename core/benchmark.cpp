#include "core/benchmark.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <numeric>

#include "core/error.h"
#include "core/executor.h"
#include "core/input_shapes.h"
#include "core/tensor_proto.h"

namespace edgepack {

namespace {

// A field of /proc/self/status in bytes ("VmRSS:  1234 kB"), -1 when absent (not Linux).
int64_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

// Resets the resident high-water mark (Linux >= 4.0); false where that is not possible.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto k = static_cast<size_t>(std::min<double>(static_cast<double>(v.size() - 1), std::ceil(q * static_cast<double>(v.size())) - 1));
  return v[k];
}

}  // namespace

void bind_batch(Model& model, int64_t batch) {
  for (ValueInfo& in : model.graph.inputs) {
    if (model.graph.is_initializer(in.name)) continue;
    if (!in.shape) throw InputError(fmt::format("input '{}' has no declared shape: give it with --input-shape", in.name));
    if (in.shape->empty()) continue;
    Dim& first = in.shape->front();
    if (!first.known()) {
      first.value = batch > 0 ? batch : 1;
    } else if (batch > 0 && first.value != batch) {
      throw InputError(fmt::format("input '{}' has a fixed batch of {}; --batch {} cannot apply", in.name, first.value, batch));
    }
  }
  require_bound_dims(model);
}

std::map<std::string, at::Tensor> synthetic_feeds(const Model& model, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> feeds;
  for (const ValueInfo* in : model.graph.runtime_inputs()) {
    const std::vector<int64_t> shape = in->concrete_shape(1);
    const at::ScalarType type = in->elem_type ? scalar_type_from_onnx(in->elem_type, fmt::format("input '{}'", in->name)) : at::kFloat;
    feeds[in->name] = at::isFloatingType(type) ? at::rand(shape, gen, at::kFloat).to(type) : at::zeros(shape, at::TensorOptions().dtype(type));
  }
  return feeds;
}

std::vector<BenchStats> bench_models(const std::vector<const Model*>& models, const BenchOptions& o) {
  if (o.repeat < 1) throw InputError(fmt::format("repeat must be at least 1, got {}", o.repeat));
  if (o.warmup < 1) throw InputError(fmt::format("warm-up runs must be 1 or more, got {}", o.warmup));
  std::vector<std::unique_ptr<Executor>> executors;
  std::vector<std::map<std::string, at::Tensor>> feeds;
  std::vector<BenchStats> stats(models.size());
  for (size_t m = 0; m < models.size(); ++m) {
    executors.push_back(std::make_unique<Executor>(*models[m]));
    feeds.push_back(synthetic_feeds(*models[m], o.seed));
    for (const auto& [name, t] : models[m]->graph.initializers) stats[m].weight_bytes += static_cast<int64_t>(t.numel() * t.element_size());
    const auto inputs = models[m]->graph.runtime_inputs();
    stats[m].batch = !inputs.empty() && !feeds[m].at(inputs[0]->name).sizes().empty() ? feeds[m].at(inputs[0]->name).size(0) : 1;
  }
  // Runs per model: the warm-ups (the first of them before any other model's, so one-time
  // process costs such as thread pools land there), one untimed run that measures memory, then
  // the timed ones.
  const int total = o.warmup + 1 + o.repeat;
  std::vector<int> done(models.size(), 0);
  auto step = [&](size_t m) {
    executors[m]->run(feeds[m]);
    if (o.progress) o.progress(m, ++done[m], total);
  };
  for (size_t m = 0; m < models.size(); ++m) step(m);
  for (int r = 1; r < o.warmup; ++r)
    for (size_t m = 0; m < models.size(); ++m) step(m);
  for (size_t m = 0; m < models.size(); ++m) {
    ::malloc_trim(0);   // freed blocks the allocator kept would hide the growth
    const int64_t before = status_bytes("VmRSS");
    const bool reset = before >= 0 && reset_peak_rss();
    step(m);
    const int64_t peak = status_bytes("VmHWM");
    if (reset && peak >= 0) stats[m].run_memory_bytes = std::max<int64_t>(0, peak - before);
  }
  using clock = std::chrono::steady_clock;
  for (int r = 0; r < o.repeat; ++r)
    for (size_t m = 0; m < models.size(); ++m) {
      const auto start = clock::now();
      executors[m]->run(feeds[m]);
      stats[m].times_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - start).count());
      if (o.progress) o.progress(m, ++done[m], total);
    }
  for (BenchStats& s : stats) {
    const auto& t = s.times_ms;
    s.median_ms = percentile(t, 0.5);
    s.p90_ms = percentile(t, 0.9);
    s.min_ms = *std::min_element(t.begin(), t.end());
    s.mean_ms = std::accumulate(t.begin(), t.end(), 0.0) / static_cast<double>(t.size());
    s.samples_per_s = s.median_ms > 0 ? 1000.0 * static_cast<double>(s.batch) / s.median_ms : 0;
  }
  return stats;
}

}  // namespace edgepack
