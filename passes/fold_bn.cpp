#include "passes/fold_bn.h"

#include <ATen/ATen.h>

#include <map>

#include "passes/fold_constants.h"

namespace edgepack {

namespace {

PassResult fold_bn_pass(Model& model, const NoSettings&, PassContext&) {
  PassResult r;
  const FoldBnStats folded = fold_batchnorms(model);
  r.changed = folded.folded_batchnorms > 0;
  r.stats["folded_batchnorms"] = folded.folded_batchnorms;
  r.stats["removed_initializers"] = folded.removed_initializers;
  return r;
}

}  // namespace

PassInfo fold_bn_info() {
  return make_pass("fold-bn", "Fold inference BatchNormalization into the preceding Conv or ConvTranspose",
                   "W'[c] = W[c] * s[c], b'[c] = (b[c] - mean[c]) * s[c] + beta[c] with s = gamma / sqrt(var + eps), when the "
                   "Conv's (or ConvTranspose's) weight, bias and the BatchNormalization parameters are constants and it feeds only the "
                   "BatchNormalization. Quantization needs it: per-channel scales must see the folded weights.",
                   no_options(), &fold_bn_pass);
}

FoldBnStats fold_batchnorms(Model& model) {
  Graph& g = model.graph;
  std::map<std::string, int> uses;
  for (const Node& n : g.nodes)
    for (const auto& in : values_read(n)) ++uses[in];   // reads inside subgraphs count too
  for (const auto& out : g.outputs) ++uses[out.name];
  auto init = [&](const Node& n, size_t i) -> at::Tensor* {
    if (i >= n.inputs.size() || !g.is_initializer(n.inputs[i])) return nullptr;
    return &g.initializers.at(n.inputs[i]);
  };

  int folded = 0;
  std::vector<bool> drop(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() > 1 || bn.attr_int("training_mode", 0)) continue;
    int p = g.producer(bn.inputs[0]);
    if (p < 0) continue;
    Node& conv = g.nodes[p];
    if ((conv.op_type != "Conv" && conv.op_type != "ConvTranspose") || uses[conv.outputs[0]] != 1) continue;
    at::Tensor* w = init(conv, 1);
    if (!w || uses[conv.inputs[1]] != 1 || (conv.inputs.size() > 2 && !init(conv, 2))) continue;
    at::Tensor *gamma = init(bn, 1), *beta = init(bn, 2), *mean = init(bn, 3), *var = init(bn, 4);
    if (!gamma || !beta || !mean || !var) continue;

    at::NoGradGuard no_grad;
    const double eps = bn.attr_float("epsilon", 1e-5f);
    at::Tensor s = gamma->to(at::kDouble) / (var->to(at::kDouble) + eps).sqrt();
    // Conv's weight is [C_out, C_in/g, k...]; ConvTranspose's is [C_in, C_out/g, k...], so its
    // output channel o = group * (C_out/g) + j scales the columns j of each group's rows.
    const bool transposed = conv.op_type == "ConvTranspose";
    const int64_t groups = transposed ? conv.attr_int("group", 1) : 1;
    const int64_t out_channels = transposed ? w->size(1) * groups : w->size(0);
    if (w->dim() < 2 || s.numel() != out_channels || (transposed && (groups < 1 || w->size(0) % groups))) continue;
    at::Tensor new_w;
    if (transposed) {
      std::vector<int64_t> grouped = {groups, w->size(0) / groups, w->size(1)}, scale = {groups, 1, w->size(1)};
      for (int64_t d = 2; d < w->dim(); ++d) grouped.push_back(w->size(d)), scale.push_back(1);
      new_w = (w->to(at::kDouble).reshape(grouped) * s.reshape(scale)).reshape(w->sizes()).to(w->scalar_type());
    } else {
      std::vector<int64_t> per_channel(w->dim(), 1);
      per_channel[0] = -1;
      new_w = (w->to(at::kDouble) * s.reshape(per_channel)).to(w->scalar_type());
    }
    at::Tensor b = conv.inputs.size() > 2 ? init(conv, 2)->to(at::kDouble) : at::zeros({out_channels}, at::kDouble);
    at::Tensor new_b = ((b - mean->to(at::kDouble)) * s + beta->to(at::kDouble)).to(w->scalar_type());
    *w = new_w;
    std::string bias_name = conv.outputs[0] + "_folded_bias";
    if (conv.inputs.size() > 2 && uses[conv.inputs[2]] == 1) bias_name = conv.inputs[2];
    g.initializers[bias_name] = new_b;
    conv.inputs.resize(3);
    conv.inputs[2] = bias_name;
    conv.outputs[0] = bn.outputs[0];   // the Conv now produces what the BN produced
    drop[i] = true;
    ++folded;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return {folded, folded ? remove_unused_initializers(g) : 0};
}

}  // namespace edgepack
