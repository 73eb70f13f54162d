#include "core/model_loader.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"
#include "core/input_shapes.h"

namespace edgepack {

bool is_torchscript_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  return in.read(magic, 2) && magic[0] == 'P' && magic[1] == 'K';
}

Model load_model(const std::string& path, const LoadOptions& options) {
  if (is_torchscript_file(path)) return import_torchscript(path, options.input_shapes);
  Model model = import_onnx(path, options.onnx);
  bind_input_shapes(model, options.input_shapes);   // sizes for the file's dynamic dims
  return model;
}

}  // namespace edgepack
