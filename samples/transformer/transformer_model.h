// The transformer sample's network, twice: as a LibTorch module that trains, and as edgepack IR
// (ONNX opset 17) built from the module's weights. Header-only so that tests/e2e/test_transformer.cpp
// checks the very graph builder the sample uses against the very module it trains.
//
// Decoder-only, pre-LN (GPT-2 layout), no biases in the attention projections:
//   tokens int64 [N,T] -> Gather(tok_emb [V,C]) + pos_emb [T,C]
//   per block: x += MatMul(attn(LayerNorm(x)), wo);  x += MLP(LayerNorm(x))
//     attn: q/k/v = MatMul(h, w [C,C]) -> Reshape [N,T,H,D] -> Transpose to [N,H,T,D] ([N,H,D,T] for k)
//           -> MatMul(q, k^T) * 1/sqrt(D) + causal mask [T,T] (-1e4 above the diagonal, not -inf:
//           finite everywhere, also after quantization) -> Softmax -> MatMul v -> [N,T,C]
//     MLP:  MatMul w1 [C,M] + b1 -> Gelu (erf form: Gelu is only an op from opset 20) -> MatMul w2 [M,C] + b2
//   -> LayerNorm -> MatMul head [C,V] -> logits [N,T,V]
// MatMul weights are stored [in, out], as ONNX MatMul takes them, in the module too.
#pragma once
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/ir.h"

namespace edgepack::samples {

struct TransformerConfig {
  int64_t vocab = 0;
  int64_t context = 64;  // T: the graph's fixed sequence length
  int64_t width = 256;   // C
  int64_t layers = 4;
  int64_t heads = 4;
  int64_t mlp = 1024;    // M

  void check() const {
    if (vocab < 2 || context < 1 || width < 1 || layers < 1 || heads < 1 || mlp < 1)
      throw InputError("transformer sizes must be positive (and the vocabulary at least 2)");
    if (width % heads != 0)
      throw InputError(fmt::format("width {} is not a multiple of the {} heads", width, heads));
  }
};

// Causal mask [T,T]: 0 on and below the diagonal, -1e4 above.
inline torch::Tensor causal_mask(int64_t t) {
  return torch::triu(torch::full({t, t}, -1e4f), 1);
}

struct TransformerImpl : torch::nn::Module {
  TransformerConfig cfg;
  torch::Tensor tok_emb, pos_emb, lnf_w, lnf_b, head, mask;
  struct Block {
    torch::Tensor ln1_w, ln1_b, wq, wk, wv, wo, ln2_w, ln2_b, w1, b1, w2, b2;
  };
  std::vector<Block> blocks;
  // Parameters under their ONNX initializer names (torch::nn refuses dots in its own names).
  std::vector<std::pair<std::string, torch::Tensor>> onnx_names;

  torch::Tensor param(const std::string& name, torch::Tensor value) {
    std::string flat = name;
    std::replace(flat.begin(), flat.end(), '.', '_');
    torch::Tensor p = register_parameter(flat, std::move(value));
    onnx_names.emplace_back(name, p);
    return p;
  }

  explicit TransformerImpl(TransformerConfig c) : cfg(c) {
    cfg.check();
    const int64_t C = cfg.width, M = cfg.mlp;
    // GPT-2 initialisation: N(0, 0.02); projections into the residual stream scaled by 1/sqrt(2L).
    auto normal = [](std::vector<int64_t> shape, double std) { return torch::randn(shape) * std; };
    const double resid_std = 0.02 / std::sqrt(2.0 * static_cast<double>(cfg.layers));
    tok_emb = param("tok_emb", normal({cfg.vocab, C}, 0.02));
    pos_emb = param("pos_emb", normal({cfg.context, C}, 0.02));
    for (int64_t i = 0; i < cfg.layers; ++i) {
      const std::string p = fmt::format("blocks.{}.", i);
      Block b;
      b.ln1_w = param(p + "ln1.weight", torch::ones({C}));
      b.ln1_b = param(p + "ln1.bias", torch::zeros({C}));
      b.wq = param(p + "attn.wq", normal({C, C}, 0.02));
      b.wk = param(p + "attn.wk", normal({C, C}, 0.02));
      b.wv = param(p + "attn.wv", normal({C, C}, 0.02));
      b.wo = param(p + "attn.wo", normal({C, C}, resid_std));
      b.ln2_w = param(p + "ln2.weight", torch::ones({C}));
      b.ln2_b = param(p + "ln2.bias", torch::zeros({C}));
      b.w1 = param(p + "mlp.w1", normal({C, M}, 0.02));
      b.b1 = param(p + "mlp.b1", torch::zeros({M}));
      b.w2 = param(p + "mlp.w2", normal({M, C}, resid_std));
      b.b2 = param(p + "mlp.b2", torch::zeros({C}));
      blocks.push_back(b);
    }
    lnf_w = param("lnf.weight", torch::ones({C}));
    lnf_b = param("lnf.bias", torch::zeros({C}));
    head = param("head", normal({C, cfg.vocab}, 0.02));
    mask = register_buffer("mask", causal_mask(cfg.context));
  }

  // tokens int64 [N,T] (T = context) -> logits [N,T,V].
  torch::Tensor forward(const torch::Tensor& tokens) {
    const int64_t N = tokens.size(0), T = tokens.size(1), C = cfg.width, H = cfg.heads, D = C / H;
    auto ln = [C](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
      return torch::layer_norm(x, {C}, w, b, 1e-5);
    };
    torch::Tensor x = tok_emb.index_select(0, tokens.reshape(-1)).view({N, T, C}) + pos_emb.slice(0, 0, T);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (const Block& b : blocks) {
      torch::Tensor h = ln(x, b.ln1_w, b.ln1_b);
      auto heads = [&](const torch::Tensor& w) { return h.matmul(w).view({N, T, H, D}); };
      torch::Tensor q = heads(b.wq).transpose(1, 2), k = heads(b.wk).permute({0, 2, 3, 1}), v = heads(b.wv).transpose(1, 2);
      torch::Tensor att = torch::softmax(q.matmul(k) * scale + mask.slice(0, 0, T).slice(1, 0, T), -1);
      torch::Tensor y = att.matmul(v).transpose(1, 2).reshape({N, T, C});
      x = x + y.matmul(b.wo);
      h = ln(x, b.ln2_w, b.ln2_b).matmul(b.w1) + b.b1;
      h = h * 0.5 * (1 + torch::erf(h / std::sqrt(2.0)));
      x = x + (h.matmul(b.w2) + b.b2);
    }
    return ln(x, lnf_w, lnf_b).matmul(head);
  }
};
TORCH_MODULE(Transformer);

// The module as an edgepack Model (opset 17). Weights are copied; `m.metadata` is left to the caller.
inline Model transformer_to_ir(Transformer& net) {
  const TransformerConfig& cfg = net->cfg;
  const int64_t C = cfg.width, H = cfg.heads, D = C / H;
  Model m;
  m.opsets[""] = 17;
  Graph& g = m.graph;
  g.name = "transformer";
  ValueInfo tokens = float_value("tokens", {Dim{-1, "N"}, Dim{cfg.context, ""}});
  tokens.elem_type = 7;  // INT64
  g.inputs.push_back(tokens);
  g.outputs.push_back(float_value("logits", {Dim{-1, "N"}, Dim{cfg.context, ""}, Dim{cfg.vocab, ""}}));
  for (const auto& [name, t] : net->onnx_names) g.initializers[name] = t.detach().clone().contiguous();

  // Fixed constants are Constant nodes, not initializers: a trainer takes float initializers that
  // feed Add/Mul for learnable weights, and the mask or the 0.5 of Gelu must stay as they are.
  auto constant = [&g](const std::string& name, const at::Tensor& value) {
    Node n = make_node("Constant", {}, name);
    n.attrs["value"] = Attribute::of_tensor(value.clone().contiguous());
    g.nodes.push_back(std::move(n));
  };
  constant("mask", net->mask);
  constant("attn_scale", torch::tensor(static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)))));
  constant("sqrt2", torch::tensor(static_cast<float>(std::sqrt(2.0))));
  constant("one", torch::tensor(1.0f));
  constant("half", torch::tensor(0.5f));
  // Shapes for the head split and merge; 0 copies N and T, so only the head count is fixed.
  g.initializers["split_heads"] = torch::tensor(std::vector<int64_t>{0, 0, H, -1}, torch::kLong);
  g.initializers["merge_heads"] = torch::tensor(std::vector<int64_t>{0, 0, -1}, torch::kLong);

  auto add = [&g](Node n) {
    g.nodes.push_back(std::move(n));
    return g.nodes.back().outputs[0];
  };
  auto layer_norm = [&](const std::string& x, const std::string& p, const std::string& out) {
    Node n = make_node("LayerNormalization", {x, p + ".weight", p + ".bias"}, out);
    n.attrs["axis"] = Attribute::of_int(-1);
    n.attrs["epsilon"] = Attribute::of_float(1e-5f);
    return add(n);
  };
  auto transpose = [&](const std::string& x, std::vector<int64_t> perm, const std::string& out) {
    Node n = make_node("Transpose", {x}, out);
    n.attrs["perm"] = Attribute::of_ints(std::move(perm));
    return add(n);
  };
  std::string x = add(make_node("Gather", {"tok_emb", "tokens"}, "embed"));
  x = add(make_node("Add", {x, "pos_emb"}, "embed_pos"));
  for (int64_t i = 0; i < cfg.layers; ++i) {
    const std::string p = fmt::format("blocks.{}.", i);
    const std::string h = layer_norm(x, p + "ln1", p + "ln1");
    auto split = [&](const std::string& w, const std::string& name, std::vector<int64_t> perm) {
      std::string y = add(make_node("MatMul", {h, p + "attn." + w}, p + "attn." + name));
      y = add(make_node("Reshape", {y, "split_heads"}, p + "attn." + name + "_heads"));
      return transpose(y, std::move(perm), p + "attn." + name + "_t");
    };
    const std::string q = split("wq", "q", {0, 2, 1, 3}), k = split("wk", "k", {0, 2, 3, 1}),
                      v = split("wv", "v", {0, 2, 1, 3});
    std::string a = add(make_node("MatMul", {q, k}, p + "attn.scores"));
    a = add(make_node("Mul", {a, "attn_scale"}, p + "attn.scaled"));
    a = add(make_node("Add", {a, "mask"}, p + "attn.masked"));
    Node softmax = make_node("Softmax", {a}, p + "attn.probs");
    softmax.attrs["axis"] = Attribute::of_int(-1);
    a = add(softmax);
    a = add(make_node("MatMul", {a, v}, p + "attn.context"));
    a = transpose(a, {0, 2, 1, 3}, p + "attn.context_t");
    a = add(make_node("Reshape", {a, "merge_heads"}, p + "attn.merged"));
    a = add(make_node("MatMul", {a, p + "attn.wo"}, p + "attn.out"));
    x = add(make_node("Add", {x, a}, p + "resid1"));

    std::string f = layer_norm(x, p + "ln2", p + "ln2");
    f = add(make_node("MatMul", {f, p + "mlp.w1"}, p + "mlp.fc1"));
    f = add(make_node("Add", {f, p + "mlp.b1"}, p + "mlp.fc1_bias"));
    // Gelu(f) = 0.5 * f * (1 + erf(f / sqrt 2))
    std::string e = add(make_node("Div", {f, "sqrt2"}, p + "mlp.gelu_div"));
    e = add(make_node("Erf", {e}, p + "mlp.gelu_erf"));
    e = add(make_node("Add", {e, "one"}, p + "mlp.gelu_add"));
    e = add(make_node("Mul", {f, e}, p + "mlp.gelu_mul"));
    e = add(make_node("Mul", {e, "half"}, p + "mlp.gelu"));
    e = add(make_node("MatMul", {e, p + "mlp.w2"}, p + "mlp.fc2"));
    e = add(make_node("Add", {e, p + "mlp.b2"}, p + "mlp.fc2_bias"));
    x = add(make_node("Add", {x, e}, p + "resid2"));
  }
  x = layer_norm(x, "lnf", "lnf");
  add(make_node("MatMul", {x, "head"}, "logits"));
  return m;
}

}  // namespace edgepack::samples
