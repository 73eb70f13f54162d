// Lowerings of the elementwise ops: unary math (exp, log, sqrt, rsqrt, reciprocal, neg, abs,
// erf), the binary arithmetic with PyTorch's type promotion and `alpha` (add, sub, rsub, mul,
// div, pow), where/masked_fill, the casts (to, type_as, float, long, int) and the ops that are
// the identity on our IR (dropout in eval mode, contiguous, clone, detach).
#include <utility>

#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

// add/sub/mul/div/rsub, tensor or number operands; `alpha` scales the second operand.
Lowering binary(const std::string& op, bool reversed = false) {
  return [op, reversed](Converter& c, const jit::Node* n) {
    const at::ScalarType dtype = c.out_dtype(n);
    // The third argument is add/sub's `alpha` or div's `rounding_mode`.
    const std::string third = n->inputs().size() > 2 ? n->schema().arguments()[2].name() : "";
    if (third == "rounding_mode" && !c.is_none(n->input(2))) c.fail(n, "division with rounding_mode is not supported");
    std::string a = c.operand(n->input(0), dtype);
    std::string b = c.operand(n->input(1), dtype);
    const std::string hint = n->output()->debugName();
    if (third == "alpha") {
      const double alpha = c.known_double(n, n->input(2));
      if (alpha != 1.0) {
        std::string scale = c.constant(at::scalar_tensor(alpha).to(dtype), "alpha");
        std::string& scaled = reversed ? a : b;
        scaled = c.emit("Mul", {scaled, scale}, {}, hint + "_alpha", c.type(scaled));
      }
    }
    c.lower_to(n, op, reversed ? std::vector<std::string>{b, a} : std::vector<std::string>{a, b});
  };
}

void lower_pow(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  c.lower_to(n, "Pow", {c.operand(n->input(0), dtype), c.operand(n->input(1), dtype)});
}

void lower_rsqrt(Converter& c, const jit::Node* n) {
  const std::string sqrt = c.emit("Sqrt", {c.tensor(n->input(0))}, {}, n->output()->debugName() + "_sqrt",
                                  ValueType::of(c.example_tensor(n->output())));
  c.lower_to(n, "Reciprocal", {sqrt});
}

void lower_masked_fill(Converter& c, const jit::Node* n) {
  std::string value = c.operand(n->input(2), c.out_dtype(n));
  c.lower_to(n, "Where", {c.tensor(n->input(1)), value, c.tensor(n->input(0))});
}

void lower_where(Converter& c, const jit::Node* n) {
  const at::ScalarType dtype = c.out_dtype(n);
  c.lower_to(n, "Where", {c.tensor(n->input(0)), c.operand(n->input(1), dtype), c.operand(n->input(2), dtype)});
}

void lower_cast(Converter& c, const jit::Node* n) { c.bind(n, c.cast(c.tensor(n->input(0)), c.out_dtype(n))); }

}  // namespace

void add_elementwise_lowerings(LoweringTable& t) {
  for (auto [op, onnx_op] : {std::pair{"aten::exp", "Exp"}, {"aten::log", "Log"}, {"aten::sqrt", "Sqrt"}, {"aten::neg", "Neg"},
                              {"aten::abs", "Abs"}, {"aten::erf", "Erf"}, {"aten::reciprocal", "Reciprocal"}})
    t[op] = unary(onnx_op);
  t["aten::rsqrt"] = lower_rsqrt;
  t["aten::add"] = binary("Add");
  t["aten::sub"] = binary("Sub");
  t["aten::rsub"] = binary("Sub", true);
  t["aten::mul"] = binary("Mul");
  t["aten::div"] = binary("Div");
  t["aten::pow"] = lower_pow;
  t["aten::masked_fill"] = lower_masked_fill;
  t["aten::where"] = lower_where;
  for (const char* op : {"aten::to", "aten::type_as", "aten::float", "aten::long", "aten::int"}) t[op] = lower_cast;
  // Identity in eval mode, or on values the IR does not distinguish.
  for (const char* op : {"aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::contiguous", "aten::clone",
                         "aten::detach"})
    t[op] = lower_alias;
}

}  // namespace edgepack::torchscript
