#include "core/model_loader.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"

namespace edgepack {

bool is_torchscript_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  return in.read(magic, 2) && magic[0] == 'P' && magic[1] == 'K';
}

Model load_model(const std::string& path, const LoadOptions& options) {
  if (is_torchscript_file(path)) return import_torchscript(path, options.input_shapes);
  if (!options.input_shapes.empty())
    throw InputError(fmt::format("'{}': --input-shape applies to TorchScript models; an ONNX file declares its input shapes",
                                 path));
  return import_onnx(path, options.onnx);
}

}  // namespace edgepack
