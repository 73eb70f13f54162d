#include "core/ops/ops.h"

namespace edgepack {

const std::map<std::string, Kernel>& kernels() {
  static const ops::KernelTable table = [] {
    ops::KernelTable t;
    ops::register_elementwise(t);
    ops::register_nn(t);
    ops::register_shape(t);
    ops::register_reduce(t);
    ops::register_recurrent(t);
    ops::register_extra(t);
    ops::register_contrib(t);
    return t;
  }();
  return table;
}

bool is_control_flow_op(const Node& node) {
  return (node.domain.empty() || node.domain == "ai.onnx") &&
         (node.op_type == "If" || node.op_type == "Loop" || node.op_type == "Scan");
}

bool is_supported_op(const Node& node) {
  if (node.domain == "com.microsoft") return ops::is_contrib_op(node.op_type);
  if (is_control_flow_op(node)) return true;
  return (node.domain.empty() || node.domain == "ai.onnx") && kernels().count(node.op_type) != 0 &&
         !ops::is_contrib_op(node.op_type);
}

}  // namespace edgepack
