#include "core/tensor_proto.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/file_util.h"
#include "core/mapped_file.h"

namespace edgepack {
namespace fs = std::filesystem;

at::ScalarType scalar_type_from_onnx(int32_t elem_type, const std::string& what) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT: return at::kFloat;
    case onnx::TensorProto::DOUBLE: return at::kDouble;
    case onnx::TensorProto::FLOAT16: return at::kHalf;
    case onnx::TensorProto::BFLOAT16: return at::kBFloat16;
    case onnx::TensorProto::INT8: return at::kChar;
    case onnx::TensorProto::UINT8: return at::kByte;
    case onnx::TensorProto::INT16: return at::kShort;
    case onnx::TensorProto::INT32: return at::kInt;
    case onnx::TensorProto::INT64: return at::kLong;
    case onnx::TensorProto::BOOL: return at::kBool;
    case onnx::TensorProto::UINT16: return at::kInt;   // widened (tensor_proto.h)
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: return at::kLong;
    default:
      throw InputError(fmt::format("{}: element type {} is not supported", what, onnx_type_name(elem_type)));
  }
}

int32_t onnx_from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return onnx::TensorProto::FLOAT;
    case at::kDouble: return onnx::TensorProto::DOUBLE;
    case at::kHalf: return onnx::TensorProto::FLOAT16;
    case at::kBFloat16: return onnx::TensorProto::BFLOAT16;
    case at::kChar: return onnx::TensorProto::INT8;
    case at::kByte: return onnx::TensorProto::UINT8;
    case at::kShort: return onnx::TensorProto::INT16;
    case at::kInt: return onnx::TensorProto::INT32;
    case at::kLong: return onnx::TensorProto::INT64;
    case at::kBool: return onnx::TensorProto::BOOL;
    default: throw Error(fmt::format("tensor type {} has no ONNX equivalent", c10::toString(t)));
  }
}

namespace {

// The signed type of the same width as an unsigned one: UINT16/32/64 files are read as these
// bits, then widened (widen_unsigned).
at::ScalarType bits_type(int32_t elem_type) {
  return elem_type == kOnnxUint16 ? at::kShort : elem_type == kOnnxUint32 ? at::kInt : at::kLong;
}

// UINT16 / UINT32 values are their integers modulo 2^16 / 2^32.
int64_t unsigned_mask(int32_t elem_type) { return elem_type == kOnnxUint16 ? 0xFFFF : 0xFFFFFFFFLL; }

at::Tensor widen_unsigned(const at::Tensor& bits, int32_t elem_type, const std::string& what) {
  if (elem_type == kOnnxUint64) {
    if (bits.numel() && bits.lt(0).any().item<bool>())
      throw InputError(fmt::format("{}: UINT64 values of 2^63 and above are not supported (edgepack holds UINT64 in int64)", what));
    return bits;
  }
  return bits.to(at::kLong).bitwise_and(unsigned_mask(elem_type)).to(scalar_type_from_onnx(elem_type, what));
}

}  // namespace

at::Tensor to_onnx_type(const at::Tensor& t, int32_t elem_type, const std::string& what) {
  const at::ScalarType type = scalar_type_from_onnx(elem_type, what);
  if (elem_type != kOnnxUint16 && elem_type != kOnnxUint32) return t.to(type);
  return t.to(at::kLong).bitwise_and(unsigned_mask(elem_type)).to(type);
}

bool holds_onnx_type(at::ScalarType t, int32_t elem_type) {
  if (is_onnx_4bit(elem_type)) return t == (elem_type == kOnnxInt4 ? at::kChar : at::kByte);
  try {
    return scalar_type_from_onnx(elem_type, "") == t;
  } catch (const InputError&) {
    return false;
  }
}

void tensor_to_proto_narrow(const at::Tensor& t, int32_t elem_type, const std::string& name, onnx::TensorProto* proto) {
  tensor_to_proto(t.to(bits_type(elem_type)), name, proto);   // two's complement: the low bits are the unsigned value
  proto->set_data_type(elem_type);
}

const char* onnx_type_name(int32_t elem_type) {
  if (elem_type == kOnnxInt4) return "INT4";
  if (elem_type == kOnnxUint4) return "UINT4";
  if (onnx::TensorProto::DataType_IsValid(elem_type))
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(elem_type)).c_str();
  return "UNKNOWN";
}

namespace {

// Product of dims, refusing negative dims and overflow (a hostile file can declare anything).
int64_t checked_numel(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw InputError(fmt::format("{}: negative dimension {}", what, d));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw InputError(fmt::format("{}: dimensions overflow", what));
    n *= d;
  }
  return n;
}

// Resolves an external-data location inside `folder`; refuses anything that escapes it.
fs::path external_path(const std::string& location, const ExternalDataBase& base, const std::string& what) {
  if (base.folder.empty())
    throw InputError(fmt::format("{}: external data '{}' but no model folder to read it from", what, location));
  fs::path rel(location);
  if (location.empty() || rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    throw InputError(fmt::format("{}: external data location '{}' must be a relative path inside the model's folder", what, location));
  for (const auto& part : rel)
    if (part == "..")
      throw InputError(fmt::format("{}: external data location '{}' escapes the model's folder", what, location));
  fs::path folder = fs::weakly_canonical(fs::path(base.folder));
  fs::path full = fs::weakly_canonical(folder / rel);
  auto [f, _] = std::mismatch(folder.begin(), folder.end(), full.begin(), full.end());
  if (f != folder.end())
    throw InputError(fmt::format("{}: external data location '{}' resolves outside the model's folder", what, location));
  return full;
}

// Where a tensor's external bytes are, checked against the folder rule, its shape and the file.
struct ExternalRegion {
  fs::path path;
  int64_t offset = 0, length = 0;
};

ExternalRegion external_region(const onnx::TensorProto& proto, const ExternalDataBase& base, int64_t expected,
                               const std::string& what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}: bad external data field '{}'", what, kv.key()));
    }
  }
  fs::path path = external_path(location, base, what);
  if (length < 0) length = expected;
  if (offset < 0 || length != expected)
    throw InputError(fmt::format("{}: external data length {} does not match its shape ({} bytes)", what, length, expected));
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read external data '{}'", what, location));
  if (static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > size)
    throw InputError(fmt::format("{}: external data '{}' is shorter than declared", what, location));
  return {path, offset, length};
}

std::string read_external(const ExternalRegion& r, const std::string& what) {
  std::ifstream in(r.path, std::ios::binary);
  std::string bytes(static_cast<size_t>(r.length), '\0');
  in.seekg(r.offset);
  in.read(bytes.data(), r.length);
  if (!in) throw InputError(fmt::format("{}: cannot read external data '{}'", what, r.path.filename().string()));
  return bytes;
}

template <typename Src>
at::Tensor from_field(const Src& field, at::ScalarType field_type, at::ScalarType type,
                      const std::vector<int64_t>& dims, int64_t numel, const std::string& what) {
  if (static_cast<int64_t>(field.size()) != numel)
    throw InputError(fmt::format("{}: holds {} values but its shape needs {}", what, field.size(), numel));
  auto t = at::empty({numel}, at::TensorOptions().dtype(field_type));
  if (numel) std::memcpy(t.data_ptr(), field.data(), numel * t.element_size());
  return t.to(type).reshape(dims);
}

}  // namespace

void check_external_location(const onnx::TensorProto& proto, const ExternalDataBase& base) {
  if (proto.data_location() != onnx::TensorProto::EXTERNAL) return;
  std::string location;
  for (const auto& kv : proto.external_data())
    if (kv.key() == "location") location = kv.value();
  external_path(location, base, fmt::format("tensor '{}'", proto.name()));
}

at::Tensor pack_4bit(const at::Tensor& values) {
  at::Tensor v = values.reshape({-1}).to(at::kByte).bitwise_and(0x0F);
  if (v.numel() % 2) v = at::cat({v, at::zeros({1}, at::kByte)});
  v = v.reshape({-1, 2});
  return v.select(1, 0).bitwise_or(at::bitwise_left_shift(v.select(1, 1), 4)).contiguous();
}

at::Tensor unpack_4bit(const at::Tensor& packed, int64_t count, bool is_signed) {
  at::Tensor bytes = packed.reshape({-1}).to(at::kByte);
  at::Tensor nibbles = at::stack({bytes.bitwise_and(0x0F), at::bitwise_right_shift(bytes, 4)}, 1).reshape({-1}).slice(0, 0, count);
  if (!is_signed) return nibbles.contiguous();
  at::Tensor v = nibbles.to(at::kChar);
  return at::where(v >= 8, v - 16, v).to(at::kChar).contiguous();
}

void tensor_to_proto_4bit(const at::Tensor& t, int32_t elem_type, const std::string& name, onnx::TensorProto* proto) {
  at::Tensor packed = pack_4bit(t);
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(elem_type);
  for (int64_t d : t.sizes()) proto->add_dims(d);
  proto->set_raw_data(std::string(static_cast<const char*>(packed.data_ptr()), packed.numel()));
}

namespace {

at::Tensor tensor_from_proto_4bit(const onnx::TensorProto& proto, const ExternalDataBase& base, const std::string& what) {
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  const int64_t numel = checked_numel(dims, what);
  const int64_t bytes = (numel + 1) / 2;
  std::string raw;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    raw = read_external(external_region(proto, base, bytes, what), what);
  else if (proto.has_raw_data())
    raw = proto.raw_data();
  else
    throw InputError(fmt::format("{}: 4-bit values must be in raw_data or external data", what));
  if (static_cast<int64_t>(raw.size()) != bytes)
    throw InputError(fmt::format("{}: holds {} bytes but its shape needs {}", what, raw.size(), bytes));
  at::Tensor packed = at::empty({bytes}, at::kByte);
  if (bytes) std::memcpy(packed.data_ptr(), raw.data(), bytes);
  return unpack_4bit(packed, numel, proto.data_type() == kOnnxInt4).reshape(dims);
}

// The tensor's elements as `type` (for UINT16/32/64: their bits as the signed type of the same
// width), from raw_data, external data or the typed field.
at::Tensor decode_proto(const onnx::TensorProto& proto, const ExternalDataBase& base, const std::string& what, at::ScalarType type) {
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  int64_t numel = checked_numel(dims, what);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(type));
  if (numel > std::numeric_limits<int64_t>::max() / elem) throw InputError(what + ": dimensions overflow");
  const int64_t bytes = numel * elem;

  auto from_bytes = [&](const std::string& raw) {
    if (static_cast<int64_t>(raw.size()) != bytes)
      throw InputError(fmt::format("{}: holds {} bytes but its shape needs {}", what, raw.size(), bytes));
    auto t = at::empty(dims, at::TensorOptions().dtype(type));
    if (bytes) std::memcpy(t.data_ptr(), raw.data(), bytes);
    return t;
  };
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    ExternalRegion region = external_region(proto, base, bytes, what);
    // Mapped, not read: a model larger than RAM costs memory only for the weights in use.
    if (bytes >= kMinMappedBytes) {
      at::Tensor mapped = map_tensor(region.path.string(), region.offset, region.length, dims, type);
      if (mapped.defined()) return mapped;
    }
    return from_bytes(read_external(region, what));
  }
  if (proto.has_raw_data()) return from_bytes(proto.raw_data());
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT: return from_field(proto.float_data(), at::kFloat, type, dims, numel, what);
    case onnx::TensorProto::DOUBLE: return from_field(proto.double_data(), at::kDouble, type, dims, numel, what);
    case onnx::TensorProto::INT64: return from_field(proto.int64_data(), at::kLong, type, dims, numel, what);
    // uint64_data holds UINT32/UINT64 values; the narrowing cast keeps their low bits.
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: return from_field(proto.uint64_data(), at::kLong, type, dims, numel, what);
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16: {
      // 16-bit floats travel as their bit patterns in int32_data.
      auto bits = from_field(proto.int32_data(), at::kInt, at::kShort, dims, numel, what);
      return bits.view(type);
    }
    default: return from_field(proto.int32_data(), at::kInt, type, dims, numel, what);
  }
}

}  // namespace

at::Tensor tensor_from_proto(const onnx::TensorProto& proto, const ExternalDataBase& base) {
  const std::string what = fmt::format("tensor '{}'", proto.name());
  if (is_onnx_4bit(proto.data_type())) return tensor_from_proto_4bit(proto, base, what);
  if (is_onnx_wide_unsigned(proto.data_type()))
    return widen_unsigned(decode_proto(proto, base, what, bits_type(proto.data_type())), proto.data_type(), what);
  return decode_proto(proto, base, what, scalar_type_from_onnx(proto.data_type(), what));
}

void tensor_to_proto(const at::Tensor& t, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(onnx_from_scalar_type(t.scalar_type()));
  for (int64_t d : t.sizes()) proto->add_dims(d);
  at::Tensor c = t.contiguous();
  proto->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

at::Tensor read_tensor_file(const std::string& path, std::string* name) {
  std::string bytes = read_file(path, "tensor file");
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    throw InputError(fmt::format("'{}' is not a serialized ONNX TensorProto", path));
  if (name) *name = proto.name();
  try {
    return tensor_from_proto(proto);
  } catch (const InputError& e) {
    throw InputError(fmt::format("'{}': {}", path, e.what()));
  }
}

void write_tensor_file(const std::string& path, const at::Tensor& t, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_proto(t, name, &proto);
  write_file_atomic(path, proto.SerializeAsString());
}

}  // namespace edgepack
