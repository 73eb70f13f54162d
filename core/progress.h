// Progress on stderr for long loops: a bar redrawn in place on a terminal, plain lines at most
// every few seconds (and at the end, unless all of it took under 2 s) when stderr is a file or
// pipe, nothing when quiet.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace edgepack {

class Progress {
 public:
  // `label` prefixes every line ("epoch 2/5").
  Progress(std::string label, int64_t total, bool quiet);
  // `done` out of total; `status` is appended (e.g. "loss 0.4123 acc 91.2%").
  void update(int64_t done, const std::string& status);
  // Ends the bar with a final line.
  void finish(const std::string& status);

 private:
  std::string line(int64_t done, const std::string& status) const;
  std::string label_;
  int64_t total_;
  bool quiet_, tty_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace edgepack
