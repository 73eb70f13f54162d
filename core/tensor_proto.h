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
