#include "core/npy.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/file_util.h"

namespace edgepack {

// Array payloads are copied byte for byte; a big-endian host would need swapping everywhere.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy I/O assumes a little-endian host");

namespace {

constexpr size_t npos = std::string::npos;

struct DType {
  const char* code;  // without the byte-order character
  at::ScalarType type;
};
constexpr DType kDTypes[] = {{"f2", at::kHalf},  {"f4", at::kFloat}, {"f8", at::kDouble},
                             {"i1", at::kChar},  {"i2", at::kShort}, {"i4", at::kInt},
                             {"i8", at::kLong},  {"u1", at::kByte},  {"b1", at::kBool}};

uint64_t rd(const std::string& b, uint64_t off, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}

void put(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

struct Header {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

// Position of the value after `'key':` in the header dict, or npos.
size_t value_pos(const std::string& h, const std::string& key) {
  for (const char* q : {"'", "\""}) {
    size_t k = h.find(q + key + q);
    if (k == npos) continue;
    size_t p = h.find_first_not_of(' ', k + key.size() + 2);
    if (p == npos || h[p] != ':') return npos;
    return h.find_first_not_of(' ', p + 1);
  }
  return npos;
}

// The header is a Python dict literal; numpy writes exactly three keys, so a key scan suffices.
Header parse_header(const std::string& h, const std::string& what) {
  auto bad = [&](const char* why) { return InputError(fmt::format("{}: invalid .npy header: {}", what, why)); };
  Header out;
  size_t p = value_pos(h, "descr");
  if (p == npos) throw bad("no 'descr'");
  size_t e = h[p] == '\'' || h[p] == '"' ? h.find(h[p], p + 1) : npos;
  if (e == npos) throw InputError(fmt::format("{}: unsupported dtype (structured arrays are not supported)", what));
  out.descr = h.substr(p + 1, e - p - 1);
  p = value_pos(h, "fortran_order");
  if (p != npos && h.compare(p, 4, "True") == 0) out.fortran = true;
  else if (p == npos || h.compare(p, 5, "False") != 0) throw bad("no 'fortran_order' True/False");
  p = value_pos(h, "shape");
  if (p == npos || h[p] != '(') throw bad("no 'shape' tuple");
  for (++p;;) {
    p = h.find_first_not_of(' ', p);
    if (p == npos) throw bad("unterminated shape");
    if (h[p] == ')') break;
    if (!std::isdigit(static_cast<unsigned char>(h[p]))) throw bad("non-integer dimension in shape");
    int64_t d = 0;
    for (; p < h.size() && std::isdigit(static_cast<unsigned char>(h[p])); ++p) {
      if (d > (std::numeric_limits<int64_t>::max() - 9) / 10) throw InputError(what + ": dimensions overflow");
      d = d * 10 + (h[p] - '0');
    }
    if (p < h.size() && h[p] == 'L') ++p;  // Python 2 long literal, in old files
    out.shape.push_back(d);
    p = h.find_first_not_of(' ', p);
    if (p != npos && h[p] == ',') ++p;
    else if (p == npos || h[p] != ')') throw bad("malformed shape");
  }
  return out;
}

at::ScalarType dtype_of(const std::string& descr, const std::string& what) {
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '='))
    for (const DType& d : kDTypes)
      if (descr.compare(1, 2, d.code) == 0) return d.type;
  throw InputError(fmt::format("{}: unsupported dtype '{}' (supported: little-endian f2 f4 f8 i1 i2 i4 i8 u1 b1)",
                               what, descr));
}

std::string descr_of(at::ScalarType type) {
  for (const DType& d : kDTypes)
    if (d.type == type) return (c10::elementSize(type) == 1 ? "|" : "<") + std::string(d.code);
  throw Error(fmt::format("tensor type {} cannot be saved as .npy", c10::toString(type)));
}

// Raw deflate (zip method 8) into exactly `usize` bytes.
std::string inflate_raw(const char* src, uint64_t csize, uint64_t usize, const std::string& what) {
  // Deflate cannot expand more than ~1032:1; refusing earlier avoids a hostile allocation.
  if (usize / 1032 > csize + 1) throw InputError(what + ": declared size is impossible for its compressed size");
  std::string out(usize, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error("zlib: cannot initialise inflate");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  uint64_t in_left = csize, out_left = usize;
  constexpr uint64_t chunk = 1u << 30;  // avail_* are 32-bit
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.avail_in == 0) z.avail_in = static_cast<uInt>(std::min(in_left, chunk)), in_left -= z.avail_in;
    if (z.avail_out == 0) z.avail_out = static_cast<uInt>(std::min(out_left, chunk)), out_left -= z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
  }
  uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != usize) throw InputError(what + ": corrupt or truncated deflate data");
  return out;
}

uint32_t crc_of(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < bytes.size();) {
    uInt n = static_cast<uInt>(std::min<size_t>(bytes.size() - off, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + off), n);
    off += n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

at::Tensor parse_npy(const std::string& b, const std::string& what) {
  if (b.size() < 8 || b.compare(0, 6, "\x93NUMPY") != 0) throw InputError(what + ": not a .npy file (bad magic)");
  const int major = static_cast<uint8_t>(b[6]);
  const int len_bytes = major == 1 ? 2 : major == 2 || major == 3 ? 4 : 0;
  if (!len_bytes) throw InputError(fmt::format("{}: .npy format version {} is not supported", what, major));
  const uint64_t start = 8 + len_bytes;
  if (b.size() < start) throw InputError(what + ": truncated .npy header");
  const uint64_t header_len = rd(b, 8, len_bytes);
  if (header_len > b.size() - start) throw InputError(what + ": truncated .npy header");
  Header h = parse_header(b.substr(start, header_len), what);
  if (h.fortran)
    throw InputError(what + ": Fortran-order arrays are not supported (save np.ascontiguousarray(a))");
  const at::ScalarType type = dtype_of(h.descr, what);

  const uint64_t elem = c10::elementSize(type), data = start + header_len;
  uint64_t numel = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / elem / d)
      throw InputError(what + ": dimensions overflow");
    numel *= d;
  }
  if (numel * elem > b.size() - data)
    throw InputError(fmt::format("{}: truncated: the header declares {} bytes of data but the file holds {}", what,
                                 numel * elem, b.size() - data));
  // Bytes other than 0/1 are not valid torch booleans; normalise through uint8.
  at::Tensor t = at::empty(h.shape, at::TensorOptions().dtype(type == at::kBool ? at::kByte : type));
  if (numel) std::memcpy(t.data_ptr(), b.data() + data, numel * elem);
  return type == at::kBool ? t.ne(0) : t;
}

std::string npy_bytes(const at::Tensor& tensor) {
  at::Tensor t = tensor.cpu().contiguous();
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}{}), }}",
                                   descr_of(t.scalar_type()), fmt::join(t.sizes(), ", "), t.dim() == 1 ? "," : "");
  // numpy pads with spaces so that the data starts 64-byte aligned; version 2.0 only when needed.
  const bool v2 = header.size() + 1 + 10 + 63 > 0xFFFF;
  const size_t prefix = v2 ? 12 : 10;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back('\0');
  put(out, header.size(), v2 ? 4 : 2);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

at::Tensor read_npy(const std::string& path) { return parse_npy(read_file(path, ".npy file"), fmt::format("'{}'", path)); }

void write_npy(const std::string& path, const at::Tensor& t) { write_file_atomic(path, npy_bytes(t)); }

NamedArrays read_npz(const std::string& path) { return parse_npz(read_file(path, ".npz file"), fmt::format("'{}'", path)); }

NamedArrays parse_npz(const std::string& b, const std::string& file) {
  auto bad = [&](const std::string& why) { return InputError(fmt::format("{}: not a valid .npz (zip) file: {}", file, why)); };
  auto need = [&](uint64_t off, uint64_t n, const char* why) {
    if (off > b.size() || n > b.size() - off) throw bad(why);
  };
  // The end-of-central-directory record closes the file, followed by a comment of up to 64 KiB.
  if (b.size() < 22) throw bad("too short");
  uint64_t eocd = b.size() - 22;
  while (rd(b, eocd, 4) != 0x06054b50) {
    if (eocd == 0 || b.size() - eocd > 22 + 0xFFFF) throw bad("no end of central directory");
    --eocd;
  }
  uint64_t count = rd(b, eocd + 10, 2), cd_size = rd(b, eocd + 12, 4), cd_off = rd(b, eocd + 16, 4);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
    if (eocd < 20 || rd(b, eocd - 20, 4) != 0x07064b50) throw bad("missing zip64 locator");
    const uint64_t z = rd(b, eocd - 20 + 8, 8);
    need(z, 56, "zip64 record out of range");
    if (rd(b, z, 4) != 0x06064b50) throw bad("bad zip64 record");
    count = rd(b, z + 32, 8), cd_size = rd(b, z + 40, 8), cd_off = rd(b, z + 48, 8);
  }
  need(cd_off, cd_size, "central directory out of range");

  NamedArrays out;
  for (uint64_t i = 0, p = cd_off; i < count; ++i) {
    need(p, 46, "truncated central directory");
    if (rd(b, p, 4) != 0x02014b50) throw bad("bad central directory entry");
    const uint64_t flags = rd(b, p + 8, 2), method = rd(b, p + 10, 2), crc = rd(b, p + 16, 4);
    uint64_t csize = rd(b, p + 20, 4), usize = rd(b, p + 24, 4), local = rd(b, p + 42, 4);
    const uint64_t name_len = rd(b, p + 28, 2), extra_len = rd(b, p + 30, 2), comment_len = rd(b, p + 32, 2);
    need(p + 46, name_len + extra_len + comment_len, "truncated central directory");
    const std::string name = b.substr(p + 46, name_len);
    // Zip64 extra field (id 1): 64-bit values for the fields saturated at 0xFFFFFFFF, in this order.
    for (uint64_t x = p + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const uint64_t id = rd(b, x, 2), size = rd(b, x + 2, 2);
      if (x + 4 + size > end) throw bad("bad extra field");
      uint64_t q = x + 4;
      for (uint64_t* v : {&usize, &csize, &local}) {
        if (id != 1 || *v != 0xFFFFFFFF) continue;
        if (q + 8 > x + 4 + size) throw bad("bad zip64 extra field");
        *v = rd(b, q, 8), q += 8;
      }
      x += 4 + size;
    }
    p += 46 + name_len + extra_len + comment_len;

    const std::string what = fmt::format("{} member '{}'", file, name);
    if (flags & 1) throw InputError(what + ": encrypted members are not supported");
    need(local, 30, "local header out of range");
    if (rd(b, local, 4) != 0x04034b50) throw bad(fmt::format("bad local header for member '{}'", name));
    const uint64_t data = local + 30 + rd(b, local + 26, 2) + rd(b, local + 28, 2);
    if (data > b.size() || csize > b.size() - data) throw InputError(what + ": truncated");
    std::string bytes;
    if (method == 0 && csize == usize) bytes = b.substr(data, csize);
    else if (method == 8) bytes = inflate_raw(b.data() + data, csize, usize, what);
    else if (method == 0) throw InputError(what + ": stored member with inconsistent sizes");
    else throw InputError(fmt::format("{}: compression method {} is not supported (stored or deflate)", what, method));
    if (crc_of(bytes) != crc) throw InputError(what + ": CRC mismatch (corrupt archive)");
    const bool npy = name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0;
    out.emplace_back(npy ? name.substr(0, name.size() - 4) : name, parse_npy(bytes, what));
  }
  return out;
}

void write_npz(const std::string& path, const NamedArrays& arrays) {
  std::string zip, dir;
  for (const auto& [name, t] : arrays) {
    const std::string data = npy_bytes(t), file = name + ".npy";
    const uint64_t offset = zip.size();
    if (data.size() >= 0xFFFFFFFF || offset >= 0xFFFFFFFF || arrays.size() >= 0xFFFF || file.size() > 0xFFFF)
      throw Error(fmt::format("cannot write '{}': more than 4 GiB or 65535 members needs zip64", path));
    const uint32_t crc = crc_of(data);
    // Shared tail of the local and central headers: version 2.0, no flags, stored, 1980-01-01.
    std::string common;
    put(common, 20, 2), put(common, 0, 2), put(common, 0, 2), put(common, 0, 2), put(common, 0x21, 2);
    put(common, crc, 4), put(common, data.size(), 4), put(common, data.size(), 4);
    put(common, file.size(), 2), put(common, 0, 2);
    put(zip, 0x04034b50, 4), zip += common, zip += file, zip += data;
    put(dir, 0x02014b50, 4), put(dir, 20, 2), dir += common;
    put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 4), put(dir, offset, 4), dir += file;
  }
  const uint64_t dir_offset = zip.size();
  if (dir_offset >= 0xFFFFFFFF) throw Error(fmt::format("cannot write '{}': more than 4 GiB needs zip64", path));
  zip += dir;
  put(zip, 0x06054b50, 4), put(zip, 0, 2), put(zip, 0, 2), put(zip, arrays.size(), 2), put(zip, arrays.size(), 2);
  put(zip, dir.size(), 4), put(zip, dir_offset, 4), put(zip, 0, 2);
  write_file_atomic(path, zip);
}

}  // namespace edgepack
