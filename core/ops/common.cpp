#include "core/ops/common.h"

namespace edgepack {

const at::Tensor& KernelContext::in(size_t i) const {
  if (!has(i)) ops::fail(node, fmt::format("input {} is required but absent", i));
  return inputs[i];
}

std::vector<int64_t> KernelContext::ints(size_t i) const {
  at::Tensor t = in(i);
  if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/false))
    ops::fail(node, fmt::format("input {} must be an integer tensor, got {}", i, c10::toString(t.scalar_type())));
  t = t.to(at::kCPU, at::kLong).contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + t.numel());
}

namespace ops {

void fail(const Node& node, const std::string& message) {
  throw InputError(fmt::format("{}: {}", node.label(), message));
}

int64_t norm_axis(const Node& node, int64_t axis, int64_t rank) {
  // Torch lets a 0-d tensor take axis 0/-1; so do we (Softmax/ArgMax of a scalar).
  const int64_t r = std::max<int64_t>(rank, 1);
  if (axis < -r || axis >= r) fail(node, fmt::format("axis {} is out of range for rank {}", axis, rank));
  return axis < 0 ? axis + r : axis;
}

std::vector<int64_t> norm_axes(const Node& node, std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) a = norm_axis(node, a, rank);
  return axes;
}

std::optional<std::vector<int64_t>> ints_input_or_attr(const KernelContext& ctx, size_t index,
                                                       const std::string& attr) {
  if (ctx.has(index)) return ctx.ints(index);
  if (ctx.node.has(attr)) return ctx.node.attr_ints(attr);
  return std::nullopt;
}

std::vector<int64_t> conv_pads(const Node& node, at::IntArrayRef spatial, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides) {
  const size_t n = spatial.size();
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> pads(2 * n, 0);
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      int64_t out = (spatial[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + kernel[i] - spatial[i]);
      // The odd pixel goes at the end for SAME_UPPER, at the beginning for SAME_LOWER.
      pads[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + n] = total - pads[i];
    }
  } else if (auto_pad == "NOTSET") {
    if (node.has("pads")) pads = node.attr_ints("pads");
    if (pads.size() != 2 * n) fail(node, fmt::format("pads has {} values, expected {}", pads.size(), 2 * n));
  } else if (auto_pad != "VALID") {
    fail(node, fmt::format("auto_pad '{}' is not supported", auto_pad));
  }
  return pads;
}

std::vector<int64_t> torch_pad_order(const std::vector<int64_t>& onnx_pads) {
  const size_t n = onnx_pads.size() / 2;
  std::vector<int64_t> out;
  for (size_t i = n; i-- > 0;) {
    out.push_back(onnx_pads[i]);
    out.push_back(onnx_pads[i + n]);
  }
  return out;
}

}  // namespace ops
}  // namespace edgepack
