// Serialises edgepack runs that write into the same output folder. Two runs interleaving their
// artifacts (one's model.onnx with the other's manifest) would each look complete and valid, so
// every command that writes artifacts holds this lock for its whole run: quantize today;
// compress and distill reuse it.
//
// The lock is flock(2) on `FOLDER/.edgepack.lock`: the kernel releases it when the holder dies,
// even by SIGKILL, so a stale lock file never blocks anyone. A second run waits, saying so once
// on stderr, and refuses after `wait_seconds` with Error (exit 1). The file is removed when the
// run ends normally; one left by a killed run is harmless and is reused.
#pragma once
#include <functional>
#include <string>

namespace edgepack {

class OutputLock {
 public:
  // Locks `folder` (which must exist; the lock file is the only thing created). Error naming the
  // folder when it is missing or read-only: that fails before hours of work, not after.
  OutputLock(const std::string& folder, double wait_seconds,
             const std::function<void(const std::string&)>& log = nullptr);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Seconds a second run waits: $EDGEPACK_LOCK_WAIT when set (0 = refuse at once), else 60.
double lock_wait_seconds();

// The folder a file is written into ("." for a bare name).
std::string output_folder(const std::string& file);

}  // namespace edgepack
