// File helpers shared by every reader and writer: whole-file reads with clear errors, and
// atomic writes (temporary file in the same folder, flushed, renamed) so that a failed or
// interrupted run never leaves a half-written artifact.
#pragma once
#include <string>

namespace edgepack {

// Reads a whole file; InputError "cannot open <what> '<path>': <reason>" when missing/unreadable.
std::string read_file(const std::string& path, const std::string& what);
// Writes `bytes` to a temporary sibling of `path`, fsyncs, then renames over `path`.
// Error (exit 1) naming the path on failure (missing folder, read-only, disk full).
void write_file_atomic(const std::string& path, const std::string& bytes);
// True when both paths name the same existing file.
bool same_file(const std::string& a, const std::string& b);

}  // namespace edgepack
