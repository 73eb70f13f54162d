#include "core/sha256.h"

#include <fstream>
#include <vector>

#include "core/error.h"

namespace edgepack {

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read '{}' to hash it", path));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(fmt::format("cannot read '{}' to hash it", path));
  return "sha256:" + sha.hex();
}

}  // namespace edgepack
