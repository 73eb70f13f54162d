// File helpers shared by every reader and writer: whole-file reads with clear errors, and
// atomic writes (temporary file in the same folder, flushed, renamed) so that a failed or
// interrupted run never leaves a half-written artifact.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

namespace edgepack {

// Reads a whole file; InputError "cannot open <what> '<path>': <reason>" when missing/unreadable,
// and "... is larger than <max_bytes>" past `max_bytes` (so /dev/zero or a 100 GB file given by
// mistake fails at once instead of exhausting memory).
std::string read_file(const std::string& path, const std::string& what,
                      uint64_t max_bytes = std::numeric_limits<uint64_t>::max());

// Writes `bytes` to an anonymous temporary file in the folder of `path` (O_TMPFILE; a named
// `.NAME.edgepack-tmp-PID` sibling where the file system lacks it), fsyncs, links it under a
// temporary name and renames it over `path`, then fsyncs the folder. A killed run therefore
// leaves either the old file or the new one; named temporaries of dead processes are swept on
// the next write of the same path. Error (exit 1) naming the path on failure (missing folder,
// read-only, disk full, file-size limit); the temporary is removed.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Where writing `path` lands. A symbolic link is followed to its final target, so the target is
// replaced and the link survives; an existing file that is not a regular file (a device, a FIFO,
// a socket, a folder) is an InputError: renaming over it would replace a device node or a pipe
// another process reads. Every atomic writer resolves its path with this first.
std::string resolve_output_path(const std::string& path);

// True when both paths name the same existing file.
bool same_file(const std::string& a, const std::string& b);

// InputError "refusing to write over the input <what> '<input>'" when `output` is `input`.
void refuse_overwriting_input(const std::string& output, const std::string& input, const std::string& what);

// The prefix of the temporary names write_file_atomic uses for `path` (for sweeps and tests).
std::string temp_prefix(const std::string& path);

}  // namespace edgepack
