// One entry point for model files: ONNX protobufs and TorchScript archives. The format is
// sniffed from the first bytes (TorchScript archives are zip files, "PK"), not the extension.
#pragma once
#include <map>
#include <string>

#include "core/ir.h"
#include "core/onnx_import.h"
#include "core/torchscript_import.h"

namespace edgepack {

struct LoadOptions {
  // Input shapes, by input name ("" = the only input). Required for TorchScript, whose graphs
  // carry no shapes; for ONNX they bind dynamic dims (core/input_shapes.h).
  std::map<std::string, InputSpec> input_shapes;
  ImportOptions onnx;
};

bool is_torchscript_file(const std::string& path);

Model load_model(const std::string& path, const LoadOptions& options = {});

}  // namespace edgepack
