#include "core/progress.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace edgepack {

Progress::Progress(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

std::string Progress::line(int64_t done, const std::string& status) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  const double eta = done > 0 ? elapsed * (1 - frac) / frac : 0;
  const int width = 24, filled = static_cast<int>(frac * width);
  return fmt::format("{} [{}{}] {:3.0f}% {} | {:.0f}s, ETA {:.0f}s", label_, std::string(filled, '#'),
                     std::string(width - filled, '.'), frac * 100, status, elapsed, eta);
}

void Progress::update(int64_t done, const std::string& status) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  // A terminal redraws at ~10 Hz; a log gets a line every 10 s so it stays readable.
  const double gap = std::chrono::duration<double>(now - last_).count();
  if (gap < (tty_ ? 0.1 : 10.0)) return;
  last_ = now;
  if (tty_) fmt::print(stderr, "\r{}\x1b[K", line(done, status));
  else fmt::print(stderr, "{}\n", line(done, status));
  std::fflush(stderr);
  printed_ = true;
}

void Progress::finish(const std::string& status) {
  if (quiet_) return;
  // A log gets no line for work that ended before anyone would wait for it.
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!tty_ && !printed_ && elapsed < 2) return;
  fmt::print(stderr, "{}{}\n", tty_ ? "\r\x1b[K" : "", line(total_, status));
  std::fflush(stderr);
}

}  // namespace edgepack
