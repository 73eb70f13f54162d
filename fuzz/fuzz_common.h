// Shared by the fuzz targets: a scratch folder per process and the rule for exceptions. A parser
// fed hostile bytes may only refuse them with InputError (the CLI's exit 2); any other exception
// would surface as a wrong exit code or a crash, so it counts as a finding like a sanitizer
// report does.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <string>

#include "core/error.h"

namespace edgepack::fuzz {

// A private folder under /dev/shm (or $TMPDIR), made once per process.
inline const std::string& scratch() {
  static const std::string dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    std::string tmpl = base + "/edgepack-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) abort();
    return tmpl;
  }();
  return dir;
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

template <typename F>
void refuse_only_with_input_error(F&& f) {
  try {
    f();
  } catch (const InputError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: exception other than InputError: %s\n", e.what());
    abort();
  }
}

}  // namespace edgepack::fuzz
