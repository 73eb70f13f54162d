#include "quantize/equalize.h"

#include <ATen/ATen.h>

#include <map>

namespace edgepack {

int equalize_cross_layer(Model& model, int iterations) {
  Graph& g = model.graph;
  std::map<std::string, int> uses;
  for (const Node& n : g.nodes)
    for (const auto& in : values_read(n)) ++uses[in];   // reads inside If/Loop/Scan bodies count too
  for (const auto& o : g.outputs) ++uses[o.name];
  auto only_reader = [&](const std::string& v) -> Node* {
    if (uses[v] != 1) return nullptr;
    for (Node& n : g.nodes)
      for (const auto& in : n.inputs)
        if (in == v) return &n;
    return nullptr;
  };
  auto plain_conv = [&](const Node& n) {
    return n.op_type == "Conv" && n.attr_int("group", 1) == 1 && n.inputs.size() >= 2 && g.is_initializer(n.inputs[1]) &&
           uses[n.inputs[1]] == 1 && (n.inputs.size() < 3 || (g.is_initializer(n.inputs[2]) && uses[n.inputs[2]] == 1));
  };
  at::NoGradGuard no_grad;
  int pairs = 0;
  for (Node& c1 : g.nodes) {
    if (!plain_conv(c1)) continue;
    Node* relu = only_reader(c1.outputs[0]);
    if (!relu || relu->op_type != "Relu") continue;
    Node* c2 = only_reader(relu->outputs[0]);
    if (!c2 || !plain_conv(*c2) || c2->inputs[0] != relu->outputs[0]) continue;
    at::Tensor& w1 = g.initializers.at(c1.inputs[1]);
    at::Tensor& w2 = g.initializers.at(c2->inputs[1]);
    if (w1.size(0) != w2.size(1)) continue;
    for (int it = 0; it < iterations; ++it) {
      at::Tensor r1 = w1.abs().reshape({w1.size(0), -1}).amax(1);
      at::Tensor r2 = w2.abs().transpose(0, 1).reshape({w2.size(1), -1}).amax(1);
      // Dead channels (a zero range on either side) keep scale 1.
      at::Tensor s = at::where((r1 > 0).logical_and(r2 > 0), (r1 / r2.clamp_min(1e-12)).sqrt(), at::ones_like(r1));
      std::vector<int64_t> out_shape(w1.dim(), 1), in_shape(w2.dim(), 1);
      out_shape[0] = -1;
      in_shape[1] = -1;
      w1 = w1 / s.reshape(out_shape);
      if (c1.inputs.size() > 2) g.initializers.at(c1.inputs[2]) = g.initializers.at(c1.inputs[2]) / s;
      w2 = w2 * s.reshape(in_shape);
    }
    ++pairs;
  }
  return pairs;
}

}  // namespace edgepack
