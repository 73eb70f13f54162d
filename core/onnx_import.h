// ONNX -> IR. Checks the file with onnx::checker, lifts old opsets to kMinOpset with ONNX's
// version converter (so the executor implements one semantics per op), runs ONNX shape
// inference, and loads external data from the model's folder only.
#pragma once
#include <functional>
#include <string>

#include "core/ir.h"

namespace onnx { class ModelProto; }

namespace edgepack {

// Models below this ai.onnx opset are converted up to it on import.
constexpr int64_t kMinOpset = 13;

struct ImportOptions {
  bool convert_opset = true;       // lift opset < kMinOpset
  bool infer_shapes = true;
  // Told, in one line each, what the import could not do but went on without: a lift the
  // version converter failed (the model then runs at a lower opset). Null = silent.
  std::function<void(const std::string&)> warn;
};

// Throws InputError with a one-line reason for a missing, empty, truncated or invalid file.
Model import_onnx(const std::string& path, const ImportOptions& options = {});
// From an in-memory proto; `folder` is where its external data may live ("" = none allowed).
Model import_onnx(onnx::ModelProto proto, const std::string& folder, const ImportOptions& options = {});

// onnx::checker on a model whose external data lies in `folder` (the checker opens those files).
// Throws the checker's exception. Skipped for a model newer than the ONNX library (below).
void check_onnx_model(const onnx::ModelProto& proto, const std::string& folder);
// True when the model uses an IR version, ai.onnx opset or 4-bit tensor type newer than the ONNX
// library we build with (Debian's 1.12: opset 17, IR 8, no INT4), whose checker and shape
// inference would refuse it or misread it. Such files (opset 21 block-wise DequantizeLinear with
// INT4 weights, from quantize-weights) are validated by onnxruntime in the tests instead.
bool newer_than_onnx_library(const onnx::ModelProto& proto);

// Bytes on disk of an ONNX model: the file plus the distinct external data files its initializers
// name (those that exist), read without loading any tensor. A file past 64 MiB holds its weights
// inline and is not parsed; a file that is not a model counts as its own size.
int64_t onnx_model_bytes(const std::string& path);

}  // namespace edgepack
