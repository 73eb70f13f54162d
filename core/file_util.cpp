#include "core/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "core/error.h"

namespace edgepack {
namespace fs = std::filesystem;

namespace {

// Closes a descriptor on every exit path.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

[[noreturn]] void fail_write(const std::string& path, int err) {
  throw Error(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
}

// 0 or the errno of the failing write (a zero-length write counts as a full disk).
int write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : ENOSPC;
    done += static_cast<size_t>(n);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

// A file-size limit (`ulimit -f`) would otherwise kill the process with SIGXFSZ in the middle
// of a write; ignored, write() fails with EFBIG and the run reports it like a full disk.
void ignore_sigxfsz() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGXFSZ, SIG_IGN); });
}

// Temporaries left by killed runs: `.NAME.edgepack-tmp-PID` whose PID no longer exists.
void sweep_stale_temps(const fs::path& folder, const std::string& prefix) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* rest = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &rest, 10);
    if (pid <= 0 || *rest != '\0') continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
  }
}

}  // namespace

std::string read_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) throw InputError(fmt::format("cannot open {} '{}': {}", what, path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw InputError(fmt::format("cannot open {} '{}': {}", what, path, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw InputError(fmt::format("cannot open {} '{}': is a directory", what, path));
  auto too_large = [&] {
    return InputError(fmt::format("{} '{}' is larger than {} bytes, the most edgepack reads", what, path, max_bytes));
  };
  std::string out;
  if (S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > max_bytes) throw too_large();
    out.reserve(static_cast<size_t>(st.st_size));
  }
  // Pipes and devices have no size; read until EOF, bounded by max_bytes.
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputError(fmt::format("cannot read {} '{}': {}", what, path, std::strerror(errno)));
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) throw too_large();
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string temp_prefix(const std::string& path) {
  return "." + fs::path(path).filename().string() + ".edgepack-tmp-";
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  ignore_sigxfsz();
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = temp_prefix(path);
  sweep_stale_temps(folder, prefix);
  const fs::path tmp = folder / fmt::format("{}{}", prefix, ::getpid());

  // Preferred: an anonymous file, which a kill during the (long) write leaves nothing of; it
  // only gets a name for the instant between linkat and rename.
  bool named = false;
  {
    Fd fd(::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    if (fd.fd >= 0) {
      if (int err = write_all(fd.fd, bytes)) fail_write(path, err);
      ::unlink(tmp.c_str());
      const std::string proc = fmt::format("/proc/self/fd/{}", fd.fd);
      named = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0;
    } else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      // The folder is missing, read-only or not ours: a named temporary would fail the same way.
      fail_write(path, errno);
    }
  }
  if (!named) {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.fd < 0) fail_write(path, errno);
    int err = write_all(fd.fd, bytes);
    if (::close(fd.release()) != 0 && !err) err = errno;
    if (err) {
      ::unlink(tmp.c_str());
      fail_write(path, err);
    }
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
  // The rename itself must reach the disk for the new file to survive a power loss.
  Fd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd >= 0) ::fsync(dir.fd);
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

void refuse_overwriting_input(const std::string& output, const std::string& input, const std::string& what) {
  if (!input.empty() && same_file(output, input))
    throw InputError(fmt::format("refusing to write over the input {} '{}'", what, input));
}

}  // namespace edgepack
