// The `host` target: the machine edgepack runs on, measured in a few seconds (`edgepack targets
// --measure-host`, and `compress --target host` through measure_host). Every figure's source
// says what was run and when; its confidence is "measured". How each figure is taken, and why,
// is in docs/targets.md ("The host target").
#pragma once
#include <string>

#include "core/targets.h"

namespace edgepack {

// /proc/cpuinfo's "model name", or "unknown CPU".
std::string host_cpu_model();

// The raw measurements behind a host profile, with the kernels' individual rates so that the
// profile's sources can say where the peak came from.
struct HostMeasurement {
  int threads = 0;              // intra-op threads the kernels ran with
  int cores = 0;                // online logical CPUs
  std::string cpu;              // /proc/cpuinfo "model name", or "unknown CPU"
  std::string date;             // YYYY-MM-DD, local time
  double gemm_gflops = 0;       // FP32: `threads` concurrent single-threaded at::mm (BLAS)
  double conv_gflops = 0;       // FP32: one at::conv2d (oneDNN) 3x3, 64->64 channels, 56x56
  double fp32_gflops = 0;       // the larger of the two
  double int8_gops = 0;         // quantized::linear, or 4 x fp32 when no engine runs it
  std::string int8_method;      // how int8_gops was obtained
  bool int8_measured = false;   // false: derived from fp32
  double bandwidth_gbps = 0;    // copy_ of buffers 8x the last-level cache; bytes read + written
  double node_overhead_us = 0;  // time of one tiny op: the fixed cost of dispatching a node
  double ram_mb = 0;            // MemTotal, MiB
};

// Runs the kernels (about 2-4 s in all) with `threads` intra-op threads (0 = all cores); the
// caller's thread settings are restored afterwards. `time_scale` < 1 shortens each kernel's
// timing budget (tests: figures of the right order, not peaks).
HostMeasurement measure_host_figures(int threads, double time_scale = 1.0);

// The `host` profile of a measurement: FP32 and INT8 rates in TOPS, bandwidth, RAM, the node
// overhead; power is an estimate (not measurable from user space).
TargetProfile host_profile(const HostMeasurement& m);

// measure_host_figures + host_profile.
TargetProfile measure_host(int threads, double time_scale = 1.0);

}  // namespace edgepack
