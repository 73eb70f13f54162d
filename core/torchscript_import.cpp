// TorchScript import, the public entry points (core/torchscript_import.h): --input-shape
// parsing, and import_torchscript, which chains the steps: load and prepare the module
// (core/torchscript_load), convert its graph to the final IR (core/torchscript_converter, with
// the op families' lowerings in core/torchscript_lower_*.cpp), and check the result as ONNX.
#include "core/torchscript_import.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "core/error.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/torchscript_converter.h"
#include "core/torchscript_load.h"

namespace edgepack {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end; (end = s.find(sep, start)) != std::string::npos; start = end + 1) parts.push_back(s.substr(start, end - start));
  parts.push_back(s.substr(start));
  return parts;
}

// The converted Model is final as it is; this only checks it. Serialized in memory, it must
// pass onnx::checker and strict shape inference, which also compares ONNX's types and shapes
// with the ones the converter declared from the example run: a bad conversion is an InputError
// here, not a failure in a later pass or runtime.
void check_as_onnx(const Model& model, const std::string& path) {
  onnx::ModelProto proto;
  export_onnx(model, &proto);
  try {
    check_onnx_model(proto, "");
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type_val=*/true, /*strict_mode_val=*/1));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("'{}': the converted graph is not valid ONNX: {}", path, split(e.what(), '\n')[0]));
  }
}

}  // namespace

std::pair<std::string, InputSpec> parse_input_spec(const std::string& text) {
  const std::string form = "expected NAME:DIMS[:TYPE] or DIMS, e.g. x:1x3x224x224 or ids:1x16:int64";
  std::vector<std::string> parts = split(text, ':');
  if (parts.size() > 3) throw InputError(fmt::format("--input-shape '{}': {}", text, form));
  std::string name = parts.size() >= 2 ? parts[0] : "";
  if (parts.size() >= 2 && name.empty()) throw InputError(fmt::format("--input-shape '{}': empty input name; {}", text, form));
  InputSpec spec;
  for (const std::string& d : split(parts.size() >= 2 ? parts[1] : parts[0], 'x')) {
    size_t used = 0;
    int64_t value = -1;
    try {
      value = std::stoll(d, &used);
    } catch (const std::exception&) {
    }
    if (d.empty() || used != d.size() || value <= 0)
      throw InputError(fmt::format("--input-shape '{}': '{}' is not a positive dimension; {}", text, d, form));
    spec.dims.push_back(value);
  }
  if (parts.size() == 3) {
    static const std::map<std::string, at::ScalarType> types = {
        {"float32", at::kFloat}, {"float", at::kFloat}, {"float16", at::kHalf}, {"float64", at::kDouble},
        {"int64", at::kLong},    {"int32", at::kInt},   {"bool", at::kBool}};
    auto t = types.find(parts[2]);
    if (t == types.end())
      throw InputError(fmt::format("--input-shape '{}': unknown type '{}' (float32, float16, float64, int64, int32, bool)", text,
                                   parts[2]));
    spec.elem_type = onnx_from_scalar_type(t->second);
  }
  return {name, spec};
}

Model import_torchscript(const std::string& path, const std::map<std::string, InputSpec>& inputs) {
  torchscript::ForwardGraph forward = torchscript::load_forward_graph(path);
  Model model;
  {
    at::NoGradGuard no_grad;
    model = torchscript::Converter(path).convert(forward.graph, forward.arg_names, inputs);
  }
  check_as_onnx(model, path);
  return model;
}

}  // namespace edgepack
