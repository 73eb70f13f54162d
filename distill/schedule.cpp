#include "distill/schedule.h"

#include <algorithm>
#include <cmath>

namespace edgepack::distill {

double learning_rate(const ScheduleOptions& o, int64_t step, int64_t total_steps) {
  if (step < o.warmup_steps) return o.base_lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const int64_t span = std::max<int64_t>(1, total_steps - o.warmup_steps);
  const double t = std::min(1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(span));
  return o.min_lr + 0.5 * (o.base_lr - o.min_lr) * (1 + std::cos(M_PI * t));
}

}  // namespace edgepack::distill
