// Conversion between onnx::TensorProto and at::Tensor, and reading/writing single .pb tensors.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace onnx { class TensorProto; }

namespace edgepack {

// Where external data of a tensor may be read from: the model's folder. Empty = refuse
// external data.
struct ExternalDataBase {
  std::string folder;
};

// Decodes a TensorProto (raw_data, typed fields or external data). Throws InputError naming
// the tensor on an unsupported type, a size mismatch, or an external location escaping `base`.
at::Tensor tensor_from_proto(const onnx::TensorProto& proto, const ExternalDataBase& base = {});
// Refuses an external-data tensor whose location escapes `base` (the rule tensor_from_proto
// applies), without reading anything. The importer runs it before onnx::checker, which would
// otherwise judge an absolute location first, in its own words. No-op for other tensors.
void check_external_location(const onnx::TensorProto& proto, const ExternalDataBase& base);
// Encodes a tensor as raw_data (little endian), with `name`.
void tensor_to_proto(const at::Tensor& t, const std::string& name, onnx::TensorProto* proto);

// 4-bit element types (ONNX 1.16, IR 10), which ONNX 1.12's protobuf does not name. In the IR an
// int4 (uint4) tensor is an int8 (uint8) tensor of values in [-8, 7] ([0, 15]) whose graph
// value_info entry carries the 4-bit type; files hold two values per byte.
constexpr int32_t kOnnxUint4 = 21;
constexpr int32_t kOnnxInt4 = 22;
inline bool is_onnx_4bit(int32_t elem_type) { return elem_type == kOnnxUint4 || elem_type == kOnnxInt4; }
// Two 4-bit values per byte, the first in the low nibble (ONNX's order; an odd count leaves the
// last high nibble 0): int8/uint8 values -> uint8 [ceil(n / 2)] (flattened).
at::Tensor pack_4bit(const at::Tensor& values);
// The inverse: `count` values, sign-extended to int8 when `is_signed`, else uint8.
at::Tensor unpack_4bit(const at::Tensor& packed, int64_t count, bool is_signed);
// Encodes int8 values in [-8, 7] (INT4) or uint8 in [0, 15] (UINT4) packed, as `elem_type`.
void tensor_to_proto_4bit(const at::Tensor& t, int32_t elem_type, const std::string& name, onnx::TensorProto* proto);

// Unsigned 16/32/64-bit element types, which LibTorch 1.13 cannot hold. The IR holds them
// widened to a signed type that holds every value: UINT16 in int32, UINT32 in int64, UINT64 in
// int64 (values of 2^63 and above are refused when read). A graph value's declared type
// remembers the narrow one (the importer adds value_info for such initializers), and writers
// narrow again. Kernels compute on the widened values: results that overflow the narrow type are
// wrapped only by a Cast to it (to_onnx_type).
constexpr int32_t kOnnxUint16 = 4, kOnnxUint32 = 12, kOnnxUint64 = 13;
inline bool is_onnx_wide_unsigned(int32_t t) { return t == kOnnxUint16 || t == kOnnxUint32 || t == kOnnxUint64; }
// `t` converted to ONNX type `elem_type` as the IR holds it: a plain cast, except that the wide
// unsigned types wrap modulo 2^16 / 2^32 (a float is truncated toward zero first, as Cast does).
at::Tensor to_onnx_type(const at::Tensor& t, int32_t elem_type, const std::string& what);
// Whether a tensor of `t` is how the IR holds a value of ONNX type `elem_type`.
bool holds_onnx_type(at::ScalarType t, int32_t elem_type);
// Encodes a widened tensor as its narrow unsigned `elem_type` (raw_data, little endian).
void tensor_to_proto_narrow(const at::Tensor& t, int32_t elem_type, const std::string& name, onnx::TensorProto* proto);

// ONNX element type <-> torch scalar type. Throws InputError for types we cannot hold.
at::ScalarType scalar_type_from_onnx(int32_t elem_type, const std::string& what);
int32_t onnx_from_scalar_type(at::ScalarType t);
const char* onnx_type_name(int32_t elem_type);

// A single serialized TensorProto file (ONNX test data `input_0.pb`). The name inside the file
// is returned through `name` when given.
at::Tensor read_tensor_file(const std::string& path, std::string* name = nullptr);
// Written atomically (temporary file + rename).
void write_tensor_file(const std::string& path, const at::Tensor& t, const std::string& name);

}  // namespace edgepack
