// Crash-safety harness: runs a command, SIGKILLs it at random points, and checks that what it
// leaves in its output folder is either nothing or a complete, valid result (the previous one or
// the new one), never a half-written file. Used for `edgepack quantize` today; `compress` and
// `distill` plug in with their command line and a validity check of their artifact folder:
//
//   KillTestReport r = kill_test(cmd, out_dir, [](const fs::path& dir, const std::vector<std::string>& files,
//                                                 std::string* why) {...});
//   CHECK(r.failures.empty());
//
// Header-only so that any test file can use it without touching the test kit's build.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace edgepack::test {

struct KillTestOptions {
  int runs = 8;                   // killed runs after the one timed complete run
  uint64_t seed = 1;
  // Files a killed run may leave that are not artifacts: the output lock (flock is released by
  // the kernel; the file itself is reused by the next run).
  std::vector<std::string> ignore = {".edgepack.lock"};
  // When set (e.g. the same command with --resume), run to completion after every killed run;
  // the folder must then hold a valid, non-empty result.
  std::string resume_command;
};

struct KillTestReport {
  double full_run_seconds = 0;    // the complete run that sets the range of kill points
  int killed = 0;                 // runs that were killed before they finished
  int finished = 0;               // runs that finished before the kill point
  std::vector<double> kill_points;
  std::vector<std::string> failures;  // one line per run whose folder was not acceptable
};

// `valid(dir, files, why)` gets the output folder after a run and the names in it other than
// `ignore`d ones, sorted; it returns true when they are nothing or a complete result, and says
// why not otherwise.
using FolderCheck =
    std::function<bool(const std::filesystem::path&, const std::vector<std::string>&, std::string*)>;

namespace detail {

// Runs `/bin/sh -c command` in its own process group and kills the whole group (the command
// may be a shell pipeline) after `delay` seconds; < 0 waits for it. True when it finished.
inline bool run_and_kill(const std::string& command, double delay, double* seconds = nullptr) {
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) return false;
  ::setpgid(pid, pid);
  int status = 0;
  bool finished = false;
  if (delay < 0) {
    finished = ::waitpid(pid, &status, 0) == pid;
  } else {
    const auto deadline = t0 + std::chrono::duration<double>(delay);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        finished = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (!finished) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return finished;
}

inline bool check_folder(const std::filesystem::path& dir, const KillTestOptions& o, const FolderCheck& valid,
                         std::string* why) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".edgepack-tmp-") != std::string::npos) {
      *why = fmt::format("a temporary file '{}' was left behind", name);
      return false;
    }
    if (std::find(o.ignore.begin(), o.ignore.end(), name) == o.ignore.end()) files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  return valid(dir, files, why);
}

}  // namespace detail

// One complete run first (timed; it must leave a valid result), then `runs` runs killed at a
// uniformly random point in [0, 1.1 x that time]. Even runs start from an empty folder, odd runs
// from whatever the previous run left (a complete earlier result, or nothing), so both "nothing
// yet" and "replace a previous result" are covered.
inline KillTestReport kill_test(const std::string& command, const std::filesystem::path& out_dir,
                                const FolderCheck& valid, const KillTestOptions& options = {}) {
  namespace fs = std::filesystem;
  KillTestReport report;
  auto clear = [&] {
    std::error_code ec;
    fs::remove_all(out_dir, ec);
    fs::create_directories(out_dir, ec);
  };
  auto check = [&](const std::string& label) {
    std::string why;
    if (!detail::check_folder(out_dir, options, valid, &why)) report.failures.push_back(label + ": " + why);
  };
  clear();
  detail::run_and_kill(command, -1, &report.full_run_seconds);
  check("complete run");
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> when(0.0, 1.1 * report.full_run_seconds);
  for (int i = 0; i < options.runs; ++i) {
    if (i % 2 == 0) clear();
    const double at = when(rng);
    report.kill_points.push_back(at);
    if (detail::run_and_kill(command, at)) ++report.finished;
    else ++report.killed;
    check(fmt::format("run {} killed at {:.3f} s", i + 1, at));
    if (!options.resume_command.empty()) {
      detail::run_and_kill(options.resume_command, -1);
      const std::string label = fmt::format("resume after run {}", i + 1);
      std::string why;
      if (!detail::check_folder(out_dir, options,
                                [&](const fs::path& d, const std::vector<std::string>& files, std::string* w) {
                                  if (files.empty()) *w = "the resumed run left nothing";
                                  return !files.empty() && valid(d, files, w);
                                },
                                &why))
        report.failures.push_back(label + ": " + why);
    }
  }
  return report;
}

}  // namespace edgepack::test
