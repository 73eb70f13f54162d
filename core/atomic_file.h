// The streaming form of write_file_atomic (core/file_util.h), for outputs too large to hold in
// memory (external data of models larger than RAM): bytes are appended to an anonymous
// temporary file in the target's folder and the file appears under its name only on commit.
// Implemented in core/file_util.cpp, which shares the temporary, sync and sweep steps with
// write_file_atomic.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace edgepack {

class AtomicFileWriter {
 public:
  // Opens the temporary (O_TMPFILE, or a named `.NAME.edgepack-tmp-PID` sibling where the file
  // system lacks it) and sweeps temporaries of dead runs. Error (exit 1) naming `path` on failure.
  explicit AtomicFileWriter(const std::string& path);
  // Without commit, the temporary is removed: the target keeps its old contents or stays absent.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends; Error naming the path on a full disk, a file-size limit, an I/O error.
  void write(const void* data, size_t bytes);
  // Appends zero bytes up to the next multiple of `alignment`.
  void pad_to(uint64_t alignment);
  uint64_t size() const { return size_; }
  // Readable and writable descriptor of the temporary (to map written bytes back).
  int fd() const { return fd_; }

  // Syncs the contents and gives the temporary a name in the target's folder, returned: for
  // checks that need to open the file before it replaces the target. Idempotent.
  std::string stage();
  // stage(), then renames over the target and syncs the folder. Further writes are refused.
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_;        // the temporary's name (named fallback from the start; else set by stage)
  int fd_ = -1;
  bool anonymous_ = false;
  bool staged_ = false;
  bool committed_ = false;
  uint64_t size_ = 0;
};

}  // namespace edgepack
