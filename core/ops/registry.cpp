#include "core/ops/ops.h"

namespace edgepack {

const std::map<std::string, Kernel>& kernels() {
  static const ops::KernelTable table = [] {
    ops::KernelTable t;
    ops::register_elementwise(t);
    ops::register_nn(t);
    ops::register_shape(t);
    ops::register_reduce(t);
    return t;
  }();
  return table;
}

bool is_supported_op(const Node& node) {
  return (node.domain.empty() || node.domain == "ai.onnx") && kernels().count(node.op_type) != 0;
}

}  // namespace edgepack
