// Elementwise kernels: unary math and activations, binary arithmetic/comparison/logic with numpy
// broadcasting (ATen broadcasts the same way), variadic Sum/Max/Min/Mean, Cast, Where, Clip and
// Quantize/DequantizeLinear. Kernels never write into their inputs: tensors may be shared with
// initializers, and the trainer differentiates through them.
#include <limits>

#include "core/ops/common.h"
#include "core/ops/ops.h"
#include "core/tensor_proto.h"

namespace edgepack::ops {
namespace {

using Unary = at::Tensor (*)(const at::Tensor&);
using Binary = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

const std::map<std::string, Unary> kUnary = {
    {"Abs", [](const at::Tensor& x) { return at::abs(x); }},
    {"Neg", [](const at::Tensor& x) { return at::neg(x); }},
    {"Exp", [](const at::Tensor& x) { return at::exp(x); }},
    {"Log", [](const at::Tensor& x) { return at::log(x); }},
    {"Sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
    {"Reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); }},
    {"Floor", [](const at::Tensor& x) { return at::floor(x); }},
    {"Ceil", [](const at::Tensor& x) { return at::ceil(x); }},
    // at::round rounds half to even, as ONNX Round requires.
    {"Round", [](const at::Tensor& x) { return at::round(x); }},
    {"Sign", [](const at::Tensor& x) { return at::sign(x); }},
    {"Sin", [](const at::Tensor& x) { return at::sin(x); }},
    {"Cos", [](const at::Tensor& x) { return at::cos(x); }},
    {"Tan", [](const at::Tensor& x) { return at::tan(x); }},
    {"Asin", [](const at::Tensor& x) { return at::asin(x); }},
    {"Acos", [](const at::Tensor& x) { return at::acos(x); }},
    {"Atan", [](const at::Tensor& x) { return at::atan(x); }},
    {"Sinh", [](const at::Tensor& x) { return at::sinh(x); }},
    {"Cosh", [](const at::Tensor& x) { return at::cosh(x); }},
    {"Tanh", [](const at::Tensor& x) { return at::tanh(x); }},
    {"Erf", [](const at::Tensor& x) { return at::erf(x); }},
    {"Sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
    {"Relu", [](const at::Tensor& x) { return at::relu(x); }},
    // ONNX HardSwish (x * clamp(x/6 + 1/2, 0, 1)) is exactly torch's hardswish.
    {"HardSwish", [](const at::Tensor& x) { return at::hardswish(x); }},
    // Linear above 20 like torch; the difference from log(1+e^x) there is below float epsilon.
    {"Softplus", [](const at::Tensor& x) { return at::softplus(x, 1, 20); }},
    {"Softsign", [](const at::Tensor& x) { return x / (at::abs(x) + 1); }},
    {"Mish", [](const at::Tensor& x) { return at::mish(x); }},
    {"Not", [](const at::Tensor& x) { return at::logical_not(x); }},
    {"IsNaN", [](const at::Tensor& x) { return at::isnan(x); }},
};

const std::map<std::string, Binary> kBinary = {
    {"Add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }},
    {"Sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }},
    {"Mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }},
    // Integer Div truncates toward zero as in C; at::div would return floats.
    {"Div",
     [](const at::Tensor& a, const at::Tensor& b) {
       return at::isIntegralType(a.scalar_type(), true) ? at::div(a, b, "trunc") : at::div(a, b);
     }},
    // ONNX Pow keeps the base's type even when the exponent is float (int base) or double.
    {"Pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b).to(a.scalar_type()); }},
    {"Equal", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }},
    {"Less", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }},
    {"LessOrEqual", [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); }},
    {"Greater", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }},
    {"GreaterOrEqual", [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); }},
    {"And", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); }},
    {"Or", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); }},
    {"Xor", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_xor(a, b); }},
};

// A per-axis quantization parameter (1-D, one value per slice of `axis`) reshaped to broadcast
// against x; per-tensor parameters pass through as scalars (and ignore axis).
at::Tensor along_axis(const Node& node, const at::Tensor& p, const at::Tensor& x) {
  if (!p.defined() || p.dim() == 0) return p;
  if (p.numel() == 1) return p.reshape({});
  const int64_t axis = norm_axis(node, node.attr_int("axis", 1), x.dim());
  if (p.dim() != 1 || p.numel() != x.size(axis))
    fail(node, fmt::format("per-axis parameter of shape [{}] does not match axis {} of size {}",
                           fmt::join(p.sizes(), ","), axis, x.size(axis)));
  std::vector<int64_t> shape(x.dim(), 1);
  shape[axis] = p.numel();
  return p.reshape(shape);
}

std::vector<at::Tensor> quantize_linear(const KernelContext& ctx) {
  const at::Tensor& x = ctx.in(0);
  at::Tensor scale = along_axis(ctx.node, ctx.in(1), x);
  at::Tensor zp = ctx.has(2) ? along_axis(ctx.node, ctx.in(2), x) : at::Tensor();
  const at::ScalarType type = zp.defined() ? zp.scalar_type() : at::kByte;
  double lo = 0, hi = 255;
  if (type == at::kChar) lo = -128, hi = 127;
  else if (type != at::kByte) fail(ctx.node, fmt::format("zero point type {} is not supported", c10::toString(type)));
  at::Tensor q = at::round(x / scale);  // half to even
  if (zp.defined()) q = q + zp.to(q.scalar_type());
  return one(at::clamp(q, lo, hi).to(type));
}

// A block-wise parameter (opset 21, block_size > 0): same rank as x, one value per block of
// `block` consecutive elements along axis (the last block may be shorter), repeated to x's shape.
at::Tensor along_blocks(const Node& node, const at::Tensor& p, const at::Tensor& x, int64_t block) {
  const int64_t axis = norm_axis(node, node.attr_int("axis", 1), x.dim());
  bool ok = p.dim() == x.dim() && p.size(axis) == (x.size(axis) + block - 1) / block;
  for (int64_t d = 0; ok && d < x.dim(); ++d) ok = d == axis || p.size(d) == x.size(d);
  if (!ok)
    fail(node, fmt::format("block-wise parameter of shape [{}] does not match input [{}] with block_size {} on axis {}",
                           fmt::join(p.sizes(), ","), fmt::join(x.sizes(), ","), block, axis));
  return p.repeat_interleave(block, axis).narrow(axis, 0, x.size(axis));
}

std::vector<at::Tensor> dequantize_linear(const KernelContext& ctx) {
  const at::Tensor& x = ctx.in(0);
  const int64_t block = ctx.node.attr_int("block_size", 0);
  if (block < 0) fail(ctx.node, fmt::format("block_size must be >= 0, not {}", block));
  auto param = [&](size_t i) { return block ? along_blocks(ctx.node, ctx.in(i), x, block) : along_axis(ctx.node, ctx.in(i), x); };
  at::Tensor scale = param(1);
  at::Tensor y = x.to(scale.scalar_type());
  if (ctx.has(2)) y = y - param(2).to(scale.scalar_type());
  return one(y * scale);
}

// Clip bounds: inputs since opset 11, attributes before.
c10::optional<at::Scalar> clip_bound(const KernelContext& ctx, size_t index, const char* attr) {
  if (ctx.has(index)) return ctx.in(index).item();
  if (ctx.node.has(attr)) return at::Scalar(ctx.node.attr_float(attr, 0));
  return c10::nullopt;
}

template <typename F>
std::vector<at::Tensor> fold(const KernelContext& ctx, F f) {
  at::Tensor acc = ctx.in(0);
  for (size_t i = 1; i < ctx.size(); ++i) acc = f(acc, ctx.in(i));
  return one(acc);
}

}  // namespace

void register_elementwise(KernelTable& t) {
  for (const auto& [name, f] : kUnary) t[name] = [f = f](const KernelContext& c) { return one(f(c.in(0))); };
  for (const auto& [name, f] : kBinary) t[name] = [f = f](const KernelContext& c) { return one(f(c.in(0), c.in(1))); };

  t["Mod"] = [](const KernelContext& c) {
    // fmod=1: sign of the dividend (C fmod); fmod=0: sign of the divisor (Python %).
    return one(c.node.attr_int("fmod", 0) ? at::fmod(c.in(0), c.in(1)) : at::remainder(c.in(0), c.in(1)));
  };
  t["Sum"] = [](const KernelContext& c) { return fold(c, [](auto& a, auto& b) { return at::add(a, b); }); };
  t["Max"] = [](const KernelContext& c) { return fold(c, [](auto& a, auto& b) { return at::maximum(a, b); }); };
  t["Min"] = [](const KernelContext& c) { return fold(c, [](auto& a, auto& b) { return at::minimum(a, b); }); };
  t["Mean"] = [](const KernelContext& c) {
    return one(fold(c, [](auto& a, auto& b) { return at::add(a, b); })[0] / static_cast<double>(c.size()));
  };

  t["Elu"] = [](const KernelContext& c) { return one(at::elu(c.in(0), c.node.attr_float("alpha", 1.0f))); };
  t["Selu"] = [](const KernelContext& c) {
    return one(at::elu(c.in(0), c.node.attr_float("alpha", 1.67326319217681884765625f),
                       c.node.attr_float("gamma", 1.05070102214813232421875f)));
  };
  t["Celu"] = [](const KernelContext& c) { return one(at::celu(c.in(0), c.node.attr_float("alpha", 1.0f))); };
  t["LeakyRelu"] = [](const KernelContext& c) { return one(at::leaky_relu(c.in(0), c.node.attr_float("alpha", 0.01f))); };
  t["ThresholdedRelu"] = [](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    return one(at::where(x > c.node.attr_float("alpha", 1.0f), x, at::zeros({}, x.options())));
  };
  // ONNX defaults (alpha 0.2, beta 0.5) differ from torch's hardsigmoid (1/6, 1/2).
  t["HardSigmoid"] = [](const KernelContext& c) {
    return one(at::clamp(c.in(0) * c.node.attr_float("alpha", 0.2f) + c.node.attr_float("beta", 0.5f), 0, 1));
  };
  // The slope broadcasts numpy-style against X (opset 7+), unlike at::prelu's per-channel rule.
  // A [C] slope that cannot broadcast that way is per-channel as in opset 6, which the version
  // converter leaves as it was.
  t["PRelu"] = [](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    at::Tensor slope = c.in(1);
    if (slope.dim() == 1 && x.dim() >= 2 && slope.numel() == x.size(1) && slope.numel() != x.size(-1)) {
      std::vector<int64_t> shape(x.dim() - 1, 1);
      shape[0] = slope.numel();
      slope = slope.reshape(shape);
    }
    return one(at::where(x < 0, x * slope, x));
  };
  t["Gelu"] = [](const KernelContext& c) { return one(at::gelu(c.in(0), c.node.attr_string("approximate", "none"))); };

  t["Clip"] = [](const KernelContext& c) {
    auto lo = clip_bound(c, 1, "min"), hi = clip_bound(c, 2, "max");
    if (!lo && !hi) return one(c.in(0));
    return one(at::clamp(c.in(0), lo, hi));
  };
  t["Where"] = [](const KernelContext& c) {
    const at::Tensor& cond = c.in(0);
    return one(at::where(cond.scalar_type() == at::kBool ? cond : cond.to(at::kBool), c.in(1), c.in(2)));
  };
  t["Cast"] = [](const KernelContext& c) {
    const auto to = static_cast<int32_t>(c.node.attr("to").i);
    return one(to_onnx_type(c.in(0), to, c.node.label()));
  };
  t["CastLike"] = [](const KernelContext& c) { return one(c.in(0).to(c.in(1).scalar_type())); };
  t["QuantizeLinear"] = quantize_linear;
  t["DequantizeLinear"] = dequantize_linear;
}

}  // namespace edgepack::ops
