// Recurrent kernels: RNN, GRU and LSTM (ONNX opsets 7-14), every attribute of the spec:
// direction forward/reverse/bidirectional, layout 0 ([seq, batch, ...]) or 1 ([batch, seq, ...]),
// sequence_lens, initial_h / initial_c, LSTM peepholes (P) and input_forget, GRU
// linear_before_reset, clip, and the activation lists with their alpha/beta.
//
// One step per time index, in ATen ops, so the trainer can differentiate through them (CRNN
// OCR heads and speech models are distilled like any other). Variable lengths by masking: at
// step t a batch entry past its length keeps its state and outputs zeros, which for the reverse
// direction also makes its first real step t = len - 1, as the spec requires.
//   LSTM (gates i, o, f, c):  i = f(Xi Wi + H Ri + Pi . C + b),  f, o alike,  c~ = g(...),
//                            C' = f . C + i . c~,  H' = o . h(C')
//   GRU  (gates z, r, h):     z = f(...), r = f(...), h~ = g(X Wh + (r . H) Rh + b)  or, with
//                            linear_before_reset, g(X Wh + r . (H Rh + Rbh) + Wbh),
//                            H' = (1 - z) . h~ + z . H
//   RNN:                     H' = f(X Wi + H Ri + b)
#include <fmt/format.h>

#include <functional>

#include "core/ops/common.h"
#include "core/ops/ops.h"

namespace edgepack::ops {
namespace {

using Activation = std::function<at::Tensor(const at::Tensor&)>;

Activation activation(const Node& node, const std::string& name, std::optional<float> alpha, std::optional<float> beta) {
  if (name == "Sigmoid") return [](const at::Tensor& x) { return at::sigmoid(x); };
  if (name == "Tanh") return [](const at::Tensor& x) { return at::tanh(x); };
  if (name == "Relu") return [](const at::Tensor& x) { return at::relu(x); };
  if (name == "Softsign") return [](const at::Tensor& x) { return x / (at::abs(x) + 1); };
  if (name == "Softplus") return [](const at::Tensor& x) { return at::softplus(x); };
  if (name == "Affine") return [a = alpha.value_or(1), b = beta.value_or(0)](const at::Tensor& x) { return x * a + b; };
  if (name == "LeakyRelu") return [a = alpha.value_or(0.01f)](const at::Tensor& x) { return at::leaky_relu(x, a); };
  if (name == "ThresholdedRelu")
    return [a = alpha.value_or(1)](const at::Tensor& x) { return at::where(x > a, x, at::zeros_like(x)); };
  if (name == "ScaledTanh")
    return [a = alpha.value_or(1), b = beta.value_or(1)](const at::Tensor& x) { return at::tanh(x * b) * a; };
  if (name == "HardSigmoid")
    return [a = alpha.value_or(0.2f), b = beta.value_or(0.5f)](const at::Tensor& x) { return at::clamp(x * a + b, 0, 1); };
  if (name == "Elu") return [a = alpha.value_or(1)](const at::Tensor& x) { return at::elu(x, a); };
  fail(node, fmt::format("activation '{}' is not supported", name));
}

struct Cell {
  std::string op;                   // RNN, GRU, LSTM
  int64_t gates = 1;                // 1, 3, 4
  std::vector<std::string> defaults;
};

Cell cell_of(const std::string& op) {
  if (op == "LSTM") return {op, 4, {"Sigmoid", "Tanh", "Tanh"}};
  if (op == "GRU") return {op, 3, {"Sigmoid", "Tanh"}};
  return {op, 1, {"Tanh"}};
}

std::vector<at::Tensor> recurrent(const KernelContext& c, const Cell& cell) {
  const Node& node = c.node;
  const bool batch_major = node.attr_int("layout", 0) != 0;
  at::Tensor x = c.in(0);
  if (x.dim() != 3) fail(node, fmt::format("X has rank {}, expected 3", x.dim()));
  if (batch_major) x = x.transpose(0, 1);   // [seq, batch, input]
  const at::Tensor &w = c.in(1), &r = c.in(2);
  const int64_t steps = x.size(0), batch = x.size(1), hidden = r.size(2);
  const int64_t dirs = w.size(0);
  const std::string direction = node.attr_string("direction", "forward");
  if ((direction == "bidirectional") != (dirs == 2))
    fail(node, fmt::format("direction '{}' with W for {} direction(s)", direction, dirs));
  if (node.has("hidden_size") && node.attr_int("hidden_size", hidden) != hidden)
    fail(node, fmt::format("hidden_size {} but R is [{}]", node.attr_int("hidden_size", 0), fmt::join(r.sizes(), ",")));
  const int64_t g = cell.gates;
  const at::TensorOptions f = x.options();

  std::vector<std::string> names;
  if (node.has("activations")) names = node.attrs.at("activations").strings;
  const size_t per_dir = cell.defaults.size();
  if (names.empty())
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), cell.defaults.begin(), cell.defaults.end());
  if (names.size() != per_dir * static_cast<size_t>(dirs))
    fail(node, fmt::format("{} activations given, expected {}", names.size(), per_dir * dirs));
  const std::vector<float> alphas = node.attr_floats("activation_alpha"), betas = node.attr_floats("activation_beta");
  std::vector<Activation> acts;
  for (size_t k = 0; k < names.size(); ++k)
    acts.push_back(activation(node, names[k], k < alphas.size() ? std::optional<float>(alphas[k]) : std::nullopt,
                              k < betas.size() ? std::optional<float>(betas[k]) : std::nullopt));
  const std::optional<float> clip =
      node.has("clip") ? std::optional<float>(node.attr_float("clip", 0)) : std::nullopt;
  auto clipped = [&](const at::Tensor& t) { return clip ? at::clamp(t, -*clip, *clip) : t; };

  const at::Tensor b = c.has(3) ? c.in(3) : at::zeros({dirs, 2 * g * hidden}, f);
  at::Tensor lens;
  if (c.has(4)) lens = c.in(4).to(at::kLong);
  const at::Tensor h0 = c.has(5) ? c.in(5) : at::zeros({dirs, batch, hidden}, f);
  const at::Tensor c0 = cell.op == "LSTM" && c.has(6) ? c.in(6) : at::zeros({dirs, batch, hidden}, f);
  const at::Tensor p = cell.op == "LSTM" && c.has(7) ? c.in(7) : at::zeros({dirs, 3 * hidden}, f);
  const bool input_forget = node.attr_int("input_forget", 0) != 0;
  const bool linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;

  std::vector<at::Tensor> ys, hs, cs;
  for (int64_t d = 0; d < dirs; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    const at::Tensor wd = w[d], rd = r[d], wb = b[d].narrow(0, 0, g * hidden), rb = b[d].narrow(0, g * hidden, g * hidden);
    const Activation &act_f = acts[d * per_dir], &act_g = acts[d * per_dir + (per_dir > 1 ? 1 : 0)];
    const Activation& act_h = acts[d * per_dir + (per_dir > 2 ? 2 : 0)];
    // Input projections of every step at once: [seq, batch, gates * hidden].
    const at::Tensor xw = at::matmul(x, wd.t()) + wb;
    at::Tensor h = h0[d], cstate = c0[d];
    std::vector<at::Tensor> out(static_cast<size_t>(steps));
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      at::Tensor h_new, c_new;
      if (cell.op == "LSTM") {
        const at::Tensor z = xw[t] + at::matmul(h, rd.t()) + rb;
        const auto gate = [&](int k) { return z.narrow(1, k * hidden, hidden); };
        const auto peep = [&](int k) { return p[d].narrow(0, k * hidden, hidden); };
        const at::Tensor i = act_f(clipped(gate(0) + peep(0) * cstate));
        const at::Tensor fg = input_forget ? 1 - i : act_f(clipped(gate(2) + peep(2) * cstate));
        const at::Tensor cand = act_g(clipped(gate(3)));
        c_new = fg * cstate + i * cand;
        const at::Tensor o = act_f(clipped(gate(1) + peep(1) * c_new));
        h_new = o * act_h(c_new);
      } else if (cell.op == "GRU") {
        const at::Tensor xt = xw[t];
        const auto x_gate = [&](int k) { return xt.narrow(1, k * hidden, hidden); };
        const auto r_w = [&](int k) { return rd.narrow(0, k * hidden, hidden); };
        const auto r_b = [&](int k) { return rb.narrow(0, k * hidden, hidden); };
        const at::Tensor zg = act_f(clipped(x_gate(0) + at::matmul(h, r_w(0).t()) + r_b(0)));
        const at::Tensor rg = act_f(clipped(x_gate(1) + at::matmul(h, r_w(1).t()) + r_b(1)));
        const at::Tensor cand =
            linear_before_reset ? act_g(clipped(x_gate(2) + rg * (at::matmul(h, r_w(2).t()) + r_b(2))))
                                : act_g(clipped(x_gate(2) + at::matmul(rg * h, r_w(2).t()) + r_b(2)));
        h_new = (1 - zg) * cand + zg * h;
      } else {
        h_new = act_f(clipped(xw[t] + at::matmul(h, rd.t()) + rb));
      }
      if (lens.defined()) {
        const at::Tensor live = (t < lens).reshape({batch, 1}).to(f.dtype());
        h_new = live * h_new + (1 - live) * h;
        if (c_new.defined()) c_new = live * c_new + (1 - live) * cstate;
        out[t] = h_new * live;
      } else {
        out[t] = h_new;
      }
      h = h_new;
      if (c_new.defined()) cstate = c_new;
    }
    ys.push_back(at::stack(out));   // [seq, batch, hidden]
    hs.push_back(h);
    cs.push_back(cstate);
  }
  at::Tensor y = at::stack(ys, 1);   // [seq, dirs, batch, hidden]
  at::Tensor y_h = at::stack(hs), y_c = at::stack(cs);   // [dirs, batch, hidden]
  if (batch_major) {
    y = y.permute({2, 0, 1, 3});          // [batch, seq, dirs, hidden]
    y_h = y_h.transpose(0, 1);            // [batch, dirs, hidden]
    y_c = y_c.transpose(0, 1);
  }
  if (cell.op == "LSTM") return {y, y_h, y_c};
  return {y, y_h};
}

}  // namespace

void register_recurrent(KernelTable& t) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    const Cell cell = cell_of(op);
    t[op] = [cell](const KernelContext& c) { return recurrent(c, cell); };
  }
}

}  // namespace edgepack::ops
