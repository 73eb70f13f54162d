#include "core/host_profile.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "core/executor.h"

namespace edgepack {

namespace {

using Clock = std::chrono::steady_clock;

// Best (shortest) time of `fn` in seconds, run at least `min_runs` times and until `budget_s`
// has passed. The best run, not the median: the figures are peaks, and on shared cores the
// slow runs are the ones another process interrupted.
double best_time(const std::function<void()>& fn, double budget_s, int min_runs = 3) {
  fn();  // warm-up: page faults, oneDNN primitive creation, thread-pool start
  double best = 1e30;
  const auto start = Clock::now();
  for (int r = 0; r < min_runs || std::chrono::duration<double>(Clock::now() - start).count() < budget_s; ++r) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    if (r > 1000) break;
  }
  return best;
}

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

std::string host_cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "unknown CPU";
}

namespace {

double mem_total_mib() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    double kib = 0;
    fields >> kib;
    return kib / 1024;
  }
  // Without /proc (not Linux): the page count.
  return static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

// Last-level cache in bytes; 32 MiB when the system does not say (a large server L3), so that
// the bandwidth buffers stay well beyond any cache.
int64_t last_level_cache_bytes() {
  long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
  long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  long llc = std::max(l3, l2);
  return llc > 0 ? llc : int64_t{32} << 20;
}

// FP32 GEMM: one single-threaded at::mm per intra-op thread, all at once. LibTorch hands a
// whole mm to BLAS, and set_threads keeps OpenBLAS single-threaded (its threads inside ours
// oversubscribe), so one mm per thread is how this build reaches every core.
double gemm_gflops(int threads, double scale) {
  double best = 0;
  for (int64_t n : {256, 512, 1024}) {
    if (n > 512 && scale < 0.5) break;
    std::vector<at::Tensor> a, b, c;
    for (int t = 0; t < threads; ++t) {
      a.push_back(at::randn({n, n}));
      b.push_back(at::randn({n, n}));
      c.push_back(at::empty({n, n}));
    }
    double s = best_time(
        [&] {
          at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) at::mm_out(c[t], a[t], b[t]);
          });
        },
        0.2 * scale);
    best = std::max(best, 2.0 * n * n * n * threads / s / 1e9);
  }
  return best;
}

// FP32 convolution as the executor and most CNNs run it: a ResNet-style 3x3 layer through
// oneDNN, which threads it itself and may beat the BLAS GEMM.
double conv_gflops(double scale) {
  at::Tensor x = at::randn({1, 64, 56, 56}), w = at::randn({64, 64, 3, 3});
  const double macs = 64.0 * 56 * 56 * 64 * 9;
  double s = best_time([&] { at::conv2d(x, w, {}, 1, 1); }, 0.3 * scale);
  return 2 * macs / s / 1e9;
}

// INT8: quantized::linear (u8 activations x s8 weights -> u8) on the quantized engine LibTorch
// selected (oneDNN, FBGEMM or QNNPACK: whichever this build has). Called through the dispatcher
// boxed, because the packed-weight class is not in the public headers. Throws when no engine
// runs it.
double int8_gops(double scale) {
  auto& dispatcher = c10::Dispatcher::singleton();
  auto prepack = dispatcher.findSchemaOrThrow("quantized::linear_prepack", "");
  auto linear = dispatcher.findSchemaOrThrow("quantized::linear", "");
  double best = 0;
  for (int64_t n : {512, 1024}) {
    if (n > 512 && scale < 0.5) break;
    at::Tensor w = at::quantize_per_tensor(at::randn({n, n}), 0.05, 0, at::kQInt8);
    at::Tensor x = at::quantize_per_tensor(at::rand({n, n}), 0.01, 0, at::kQUInt8);
    std::vector<c10::IValue> stack{w, c10::optional<at::Tensor>()};
    prepack.callBoxed(&stack);
    c10::IValue packed = stack.at(0);
    double s = best_time(
        [&] {
          std::vector<c10::IValue> args{x, packed, 0.1, int64_t{128}};
          linear.callBoxed(&args);
        },
        0.2 * scale);
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

// Copy bandwidth, STREAM's convention: bytes read + bytes written per second (write-allocate
// traffic not counted). Buffers are 4x the last-level cache so that they come from DRAM, and
// filled with a constant: drawing random numbers for them took seconds.
double copy_bandwidth_gbps(double ram_mib, double scale) {
  int64_t bytes = std::max<int64_t>(4 * last_level_cache_bytes(), int64_t{64} << 20);
  bytes = std::min<int64_t>(bytes, static_cast<int64_t>(ram_mib * 1024 * 1024 / 8));  // two buffers, small machines
  at::Tensor src = at::full({bytes / 4}, 1.0f), dst = at::zeros({bytes / 4});
  double s = best_time([&] { dst.copy_(src); }, 0.4 * scale);
  return 2.0 * static_cast<double>(bytes) / s / 1e9;
}

// Fixed cost of one node: a tiny elementwise op, where the arithmetic is nothing and what is
// left is dispatch, shape checks, output allocation and the thread-pool hand-off a runtime
// pays for every node. Median over blocks, so one preempted block does not count.
double node_overhead_us() {
  at::Tensor a = at::rand({64}), b = at::rand({64});
  constexpr int kCalls = 200;
  std::vector<double> us;
  for (int block = 0; block < 15; ++block) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kCalls; ++i) at::add(a, b);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kCalls);
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

}  // namespace

HostMeasurement measure_host_figures(int threads, double time_scale) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 0) threads = cores;
  const int previous = at::get_num_threads();
  set_threads(threads);
  HostMeasurement m;
  m.threads = threads;
  m.cores = cores;
  m.cpu = host_cpu_model();
  m.date = today();
  m.ram_mb = mem_total_mib();
  at::manual_seed(0);
  m.gemm_gflops = gemm_gflops(threads, time_scale);
  m.conv_gflops = conv_gflops(time_scale);
  m.fp32_gflops = std::max(m.gemm_gflops, m.conv_gflops);
  try {
    m.int8_gops = int8_gops(time_scale);
    m.int8_method = fmt::format("quantized::linear u8 x s8 on {} ({} threads)",
                                c10::toString(at::globalContext().qEngine()), threads);
    m.int8_measured = true;
  } catch (const std::exception& e) {
    // A SIMD register holds 4x as many int8 as fp32 lanes: the cost model's own rule for
    // profiles without an FP32 figure, applied the other way.
    m.int8_gops = 4 * m.fp32_gflops;
    m.int8_method = "4 x FP32 (no quantized engine in this LibTorch build)";
  }
  m.bandwidth_gbps = copy_bandwidth_gbps(m.ram_mb, time_scale);
  m.node_overhead_us = node_overhead_us();
  at::set_num_threads(previous);
  return m;
}

TargetProfile host_profile(const HostMeasurement& m) {
  const std::string by = fmt::format("measured by edgepack targets --measure-host on {}", m.date);
  auto measured = [&](double value, const std::string& how) { return Figure{value, by + ": " + how, "measured"}; };
  TargetProfile p;
  p.id = "host";
  p.name = fmt::format("this machine ({}, {} threads)", m.cpu, m.threads);
  p.int8_kind = TopsKind::Dense;
  p.int8_tops = m.int8_measured ? measured(m.int8_gops / 1000, m.int8_method)
                                : Figure{m.int8_gops / 1000, by + ": " + m.int8_method, "derived"};
  p.fp32_tops = measured(m.fp32_gflops / 1000,
                         fmt::format("best of {} concurrent at::mm {:.1f} GFLOP/s and at::conv2d 3x3 64ch 56x56 "
                                     "{:.1f} GFLOP/s",
                                     m.threads, m.gemm_gflops, m.conv_gflops));
  p.bandwidth_gbps = measured(m.bandwidth_gbps, "copy_ of buffers 4x the last-level cache, bytes read + written");
  p.ram_mb = measured(m.ram_mb, "MemTotal of /proc/meminfo");
  p.node_overhead_us = measured(m.node_overhead_us, "median time of a 64-element at::add");
  // Power cannot be read from user space on most machines; a server core's share of its
  // socket's TDP is ~4 W (e.g. 360 W / 96 cores), a laptop core's more. Only `fits`-style
  // reports read it; the cost model does not.
  p.power_w = Figure{4.0 * m.threads, "estimate: 4 W per thread used (not measurable from user space)", "estimate"};
  p.device_class = classify(p.int8_tops.value, p.power_w.value);
  p.accelerator = fmt::format("CPU: {} ({} logical cores)", m.cpu, m.cores);
  p.precisions = {"int8", "fp32"};
  p.artifact_format = "onnx-qdq";
  p.notes = fmt::format("{} intra-op threads; FP32 {:.1f} GFLOP/s, INT8 {:.1f} GOP/s, {:.1f} GB/s, node overhead "
                        "{:.2f} us",
                        m.threads, m.fp32_gflops, m.int8_gops, m.bandwidth_gbps, m.node_overhead_us);
  return p;
}

TargetProfile measure_host(int threads, double time_scale) {
  return host_profile(measure_host_figures(threads, time_scale));
}

}  // namespace edgepack
