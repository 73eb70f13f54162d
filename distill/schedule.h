// Learning-rate schedule: linear warm-up, then cosine decay (SGDR without restarts).
#pragma once
#include <cstdint>

namespace edgepack::distill {

struct ScheduleOptions {
  double base_lr = 1e-3;
  double min_lr = 0;          // reached at the last step
  int64_t warmup_steps = 0;   // lr rises linearly from base_lr/warmup_steps to base_lr
};

// The learning rate of optimizer step `step` (0-based) out of `total_steps`. A pure function of
// the step, so a resumed run only needs the step count to be back on the same curve.
double learning_rate(const ScheduleOptions& options, int64_t step, int64_t total_steps);

}  // namespace edgepack::distill
