// IR -> ONNX. Initializers are written as raw_data; the result passes onnx::checker.
#pragma once
#include <string>

#include "core/ir.h"

namespace onnx { class ModelProto; }

namespace edgepack {

void export_onnx(const Model& model, onnx::ModelProto* proto);
// Serialises, runs onnx::checker on the result, and writes atomically (temporary file +
// rename): a failed write leaves no partial file. Refuses to write over `must_differ` when given.
void save_onnx(const Model& model, const std::string& path);

}  // namespace edgepack
