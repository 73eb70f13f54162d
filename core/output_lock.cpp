#include "core/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/error.h"

namespace edgepack {
namespace fs = std::filesystem;

namespace {

// The pid written by the holder, for the waiting message ("" when unreadable).
std::string holder_of(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  s.erase(s.find_last_not_of(" \n") + 1);
  return s.empty() ? "" : fmt::format(" (pid {})", s);
}

}  // namespace

std::string output_folder(const std::string& file) {
  fs::path parent = fs::path(file).parent_path();
  return parent.empty() ? "." : parent.string();
}

double lock_wait_seconds() {
  const char* env = std::getenv("EDGEPACK_LOCK_WAIT");
  if (!env || !*env) return 60;
  char* end = nullptr;
  double v = std::strtod(env, &end);
  if (*end != '\0' || !(v >= 0)) throw InputError(fmt::format("EDGEPACK_LOCK_WAIT='{}' is not a number of seconds", env));
  return v;
}

OutputLock::OutputLock(const std::string& folder, double wait_seconds, const std::function<void(const std::string&)>& log)
    : path_((fs::path(folder) / ".edgepack.lock").string()) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(wait_seconds);
  bool told = false;
  while (true) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(fmt::format("cannot write into '{}': {}", folder, std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      // The previous holder unlinks the file as it leaves; a lock on that unlinked inode
      // would not exclude a third run that creates a fresh file, so start over.
      struct stat held {}, now {};
      if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
          held.st_dev == now.st_dev) {
        const std::string pid = fmt::format("{}\n", ::getpid());
        if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
          // The pid is only for the waiting message of others; the lock holds without it.
        }
        return;
      }
    } else if (errno != EWOULDBLOCK) {
      int err = errno;
      ::close(fd_);
      throw Error(fmt::format("cannot lock '{}': {}", path_, std::strerror(err)));
    } else {
      const std::string holder = holder_of(fd_);
      if (clock::now() >= deadline) {
        ::close(fd_);
        fd_ = -1;
        throw Error(fmt::format("another edgepack run{} is writing into '{}'; gave up after {:g} s (set EDGEPACK_LOCK_WAIT to wait longer)",
                                holder, folder, wait_seconds));
      }
      if (!told && log) log(fmt::format("waiting for another edgepack run{} writing into '{}'", holder, folder));
      told = true;
    }
    ::close(fd_);
    fd_ = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock: a waiter then finds the inode gone and retries.
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace edgepack
