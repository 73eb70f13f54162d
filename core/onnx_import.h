// ONNX -> IR. Checks the file with onnx::checker, lifts old opsets to kMinOpset with ONNX's
// version converter (so the executor implements one semantics per op), runs ONNX shape
// inference, and loads external data from the model's folder only.
#pragma once
#include <string>

#include "core/ir.h"

namespace onnx { class ModelProto; }

namespace edgepack {

// Models below this ai.onnx opset are converted up to it on import.
constexpr int64_t kMinOpset = 13;

struct ImportOptions {
  bool convert_opset = true;       // lift opset < kMinOpset
  bool infer_shapes = true;
};

// Throws InputError with a one-line reason for a missing, empty, truncated or invalid file.
Model import_onnx(const std::string& path, const ImportOptions& options = {});
// From an in-memory proto; `folder` is where its external data may live ("" = none allowed).
Model import_onnx(onnx::ModelProto proto, const std::string& folder, const ImportOptions& options = {});

// onnx::checker on a model whose external data lies in `folder` (the checker opens those files).
// Throws the checker's exception.
void check_onnx_model(const onnx::ModelProto& proto, const std::string& folder);

}  // namespace edgepack
