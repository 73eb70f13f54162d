// Lowerings of the normalizations: batch_norm (eval mode) to BatchNormalization, layer_norm to
// LayerNormalization (the op that needs opset 17), with the default scale and shift PyTorch
// uses when they are None.
#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

void lower_batch_norm(Converter& c, const jit::Node* n) {
  if (c.known(n, n->input(5)).toBool()) c.fail(n, "batch_norm in training mode");
  const at::Tensor& mean = c.example_tensor(n->input(3));
  auto param = [&](const jit::Value* v, double fill) {
    return c.is_none(v) ? c.constant(at::full_like(mean, fill), "bn_default") : c.tensor(v);
  };
  c.lower_to(n, "BatchNormalization",
             {c.tensor(n->input(0)), param(n->input(1), 1), param(n->input(2), 0), c.tensor(n->input(3)), c.tensor(n->input(4))},
             {{"epsilon", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(7))))}});
}

void lower_layer_norm(Converter& c, const jit::Node* n) {
  const std::vector<int64_t> shape = c.known_ints(n, n->input(1));
  const at::ScalarType dtype = c.out_dtype(n);
  std::vector<std::string> inputs = {c.tensor(n->input(0)),
                                     c.is_none(n->input(2)) ? c.constant(at::ones(shape, dtype), "ln_scale") : c.tensor(n->input(2))};
  if (!c.is_none(n->input(3))) inputs.push_back(c.tensor(n->input(3)));
  c.lower_to(n, "LayerNormalization", inputs,
             {{"axis", Attribute::of_int(-static_cast<int64_t>(shape.size()))},
              {"epsilon", Attribute::of_float(static_cast<float>(c.known_double(n, n->input(4))))}});
}

}  // namespace

void add_normalization_lowerings(LoweringTable& t) {
  t["aten::batch_norm"] = lower_batch_norm;
  t["aten::layer_norm"] = lower_layer_norm;
}

}  // namespace edgepack::torchscript
