// SHA-256 through OpenSSL's libcrypto, for provenance (dataset digests, manifests).
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace edgepack {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  // Lower-case hex digest of everything given so far; call once, at the end.
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "sha256:<hex>" of a file's bytes; Error naming the file when it cannot be read.
std::string file_sha256(const std::string& path);

}  // namespace edgepack
