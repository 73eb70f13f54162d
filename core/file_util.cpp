#include "core/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "core/atomic_file.h"
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

std::string resolve_output_path(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  for (int hops = 0; fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    if (hops == 40) throw InputError(fmt::format("cannot write '{}': too many levels of symbolic links", path));
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) throw InputError(fmt::format("cannot write '{}': {}", path, ec.message()));
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  const fs::file_status st = fs::status(p, ec);
  if (!fs::exists(st) || fs::is_regular_file(st)) return p.string();
  const char* kind = fs::is_directory(st)       ? "a folder"
                     : fs::is_character_file(st) ? "a character device"
                     : fs::is_block_file(st)     ? "a block device"
                     : fs::is_fifo(st)           ? "a FIFO"
                     : fs::is_socket(st)         ? "a socket"
                                                 : "not a regular file";
  throw InputError(fmt::format("cannot write '{}': it is {}; give a new path or a regular file", path, kind));
}

AtomicFileWriter::AtomicFileWriter(const std::string& requested) : path_(resolve_output_path(requested)) {
  const std::string& path = path_;
  ignore_sigxfsz();
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = temp_prefix(path);
  sweep_stale_temps(folder, prefix);
  tmp_ = (folder / fmt::format("{}{}", prefix, ::getpid())).string();
  // Preferred: an anonymous file, which a kill during the (long) write leaves nothing of; it
  // only gets a name for the instant between stage and rename. Readable too, so that a writer
  // of external data can map back what it wrote.
  fd_ = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
  if (fd_ >= 0) {
    anonymous_ = true;
    return;
  }
  // The folder is missing, read-only or not ours: a named temporary would fail the same way.
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail_write(path, errno);
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_write(path, errno);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && (!anonymous_ || staged_)) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  if (committed_ || fd_ < 0) throw Error(fmt::format("cannot write '{}': already committed", path_));
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::write(fd_, p + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    // A zero-length write counts as a full disk.
    if (n <= 0) fail_write(path_, n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  size_ += bytes;
}

void AtomicFileWriter::pad_to(uint64_t alignment) {
  static const char zeros[4096] = {};
  while (size_ % alignment) write(zeros, std::min<uint64_t>(sizeof zeros, alignment - size_ % alignment));
}

std::string AtomicFileWriter::stage() {
  if (staged_) return tmp_;
  if (::fsync(fd_) != 0) fail_write(path_, errno);
  if (anonymous_) {
    ::unlink(tmp_.c_str());
    const std::string proc = fmt::format("/proc/self/fd/{}", fd_);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      // No /proc: copy the anonymous file into a named temporary.
      Fd named(::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (named.fd < 0) fail_write(path_, errno);
      staged_ = true;   // from here the destructor removes the named temporary
      std::vector<char> buf(1 << 20);
      for (uint64_t at = 0; at < size_;) {
        ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_write(path_, n < 0 ? errno : EIO);
        for (ssize_t w = 0; w < n;) {
          ssize_t k = ::write(named.fd, buf.data() + w, static_cast<size_t>(n - w));
          if (k < 0 && errno == EINTR) continue;
          if (k <= 0) fail_write(path_, k < 0 ? errno : ENOSPC);
          w += k;
        }
        at += static_cast<uint64_t>(n);
      }
      if (::fsync(named.fd) != 0) fail_write(path_, errno);
      ::close(fd_);
      fd_ = named.release();
    }
  }
  staged_ = true;
  return tmp_;
}

void AtomicFileWriter::commit() {
  stage();
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail_write(path_, errno);
  committed_ = true;
  // The rename itself must reach the disk for the new file to survive a power loss.
  const fs::path target(path_);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  Fd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd >= 0) ::fsync(dir.fd);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
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
