// Lowerings of the activations: relu, sigmoid, tanh, hardswish, hardsigmoid, leaky_relu, the
// clamps (relu6, hardtanh, clamp as Clip), gelu and silu built from ONNX primitives, and
// softmax/log_softmax.
#include <cmath>
#include <utility>

#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

// gelu: 0.5 x (1 + erf(x / sqrt 2)), or with approximate='tanh' 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// ONNX's Gelu is opset 20, so it is built from Erf/Tanh. Every step is elementwise: each
// intermediate has the output's type.
void lower_gelu(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  const ValueType type = ValueType::of(c.example_tensor(n->output()));
  const std::string x = c.tensor(n->input(0)), hint = n->output()->debugName();
  auto k = [&](double v, const std::string& name) { return c.constant(at::scalar_tensor(v).to(dtype), name); };
  auto step = [&](const std::string& op, std::vector<std::string> inputs, const std::string& suffix) {
    return c.emit(op, std::move(inputs), {}, hint + suffix, type);
  };
  const bool tanh = n->inputs().size() > 1 && c.known(n, n->input(1)).toStringRef() == "tanh";
  std::string inner;
  if (tanh) {
    std::string cube = step("Mul", {step("Mul", {x, x}, "_sq"), x}, "_cube");
    std::string sum = step("Add", {x, step("Mul", {cube, k(0.044715, "gelu_c")}, "_c3")}, "_sum");
    inner = step("Tanh", {step("Mul", {sum, k(std::sqrt(2.0 / M_PI), "gelu_sqrt_2_pi")}, "_scaled")}, "_tanh");
  } else {
    inner = step("Erf", {step("Div", {x, k(std::sqrt(2.0), "gelu_sqrt2")}, "_scaled")}, "_erf");
  }
  std::string one_plus = step("Add", {inner, k(1.0, "one")}, "_1p");
  std::string half_x = step("Mul", {x, k(0.5, "half")}, "_half");
  c.lower_to(n, "Mul", {half_x, one_plus});
}

void lower_silu(Converter& c, const jit::Node* n) {
  const std::string x = c.tensor(n->input(0));
  const std::string sigmoid =
      c.emit("Sigmoid", {x}, {}, n->output()->debugName() + "_sigmoid", ValueType::of(c.example_tensor(n->output())));
  c.lower_to(n, "Mul", {x, sigmoid});
}

void lower_clamp(Converter& c, const jit::Node* n, c10::optional<double> lo, c10::optional<double> hi) {
  const at::ScalarType dtype = c.out_dtype(n);
  std::vector<std::string> inputs = {c.tensor(n->input(0))};
  inputs.push_back(lo ? c.constant(at::scalar_tensor(*lo).to(dtype), "clip_min") : "");
  if (hi) inputs.push_back(c.constant(at::scalar_tensor(*hi).to(dtype), "clip_max"));
  c.lower_to(n, "Clip", inputs);
}

Lowering softmax(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) {
    if (n->inputs().size() > 2 && !c.is_none(n->input(2))) c.fail(n, "softmax with a dtype is not supported");
    c.lower_to(n, op, {c.tensor(n->input(0))},
               {{"axis", Attribute::of_int(normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0))))}});
  };
}

}  // namespace

void add_activation_lowerings(LoweringTable& t) {
  for (auto [op, onnx_op] : {std::pair{"aten::relu", "Relu"}, {"aten::sigmoid", "Sigmoid"}, {"aten::tanh", "Tanh"},
                              {"aten::hardswish", "HardSwish"}})
    t[op] = unary(onnx_op);
  t["aten::gelu"] = lower_gelu;
  t["aten::silu"] = lower_silu;
  t["aten::hardsigmoid"] = [](Converter& c, const jit::Node* n) {
    c.lower_to(n, "HardSigmoid", {c.tensor(n->input(0))},
               {{"alpha", Attribute::of_float(1.0f / 6)}, {"beta", Attribute::of_float(0.5f)}});
  };
  t["aten::leaky_relu"] = [](Converter& c, const jit::Node* n) {
    const float slope = n->inputs().size() > 1 ? static_cast<float>(c.known_double(n, n->input(1))) : 0.01f;
    c.lower_to(n, "LeakyRelu", {c.tensor(n->input(0))}, {{"alpha", Attribute::of_float(slope)}});
  };
  t["aten::relu6"] = [](Converter& c, const jit::Node* n) { lower_clamp(c, n, 0.0, 6.0); };
  t["aten::hardtanh"] = [](Converter& c, const jit::Node* n) {
    lower_clamp(c, n, c.known_double(n, n->input(1)), c.known_double(n, n->input(2)));
  };
  t["aten::clamp"] = [](Converter& c, const jit::Node* n) {
    auto bound = [&](const jit::Value* v) -> c10::optional<double> {
      if (c.is_none(v)) return c10::nullopt;
      return c.known_double(n, v);
    };
    lower_clamp(c, n, bound(n->input(1)), bound(n->input(2)));
  };
  t["aten::softmax"] = softmax("Softmax");
  t["aten::log_softmax"] = softmax("LogSoftmax");
}

}  // namespace edgepack::torchscript
