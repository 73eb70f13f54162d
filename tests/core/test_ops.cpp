// Op kernels, one node at a time: each case builds a single-node context and checks the kernel
// against hand-computed values or a naive reference loop (in double precision). Tolerances are
// stated per check; float32 kernels against double references use 1e-5 absolute unless noted.
#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/executor.h"
#include "tests/helpers.h"

using namespace edgepack;

namespace {

constexpr double kTol = 1e-5;


at::Tensor run1(const std::string& op, const std::vector<at::Tensor>& inputs, std::map<std::string, Attribute> attrs = {},
                int64_t opset = 17) {
  return test::run_kernel(op, inputs, std::move(attrs), 1, opset)[0];
}

bool close(const at::Tensor& a, const at::Tensor& b, double tol = kTol) {
  std::string why;
  const bool ok = test::near(a, b, tol, &why);
  if (!ok) MESSAGE(why);
  return ok;
}

bool shape_is(const at::Tensor& t, std::vector<int64_t> shape) {
  if (t.sizes() == at::IntArrayRef(shape)) return true;
  MESSAGE(fmt::format("shape [{}], expected [{}]", fmt::join(t.sizes(), ","), fmt::join(shape, ",")));
  return false;
}

bool type_is(const at::Tensor& t, at::ScalarType type) {
  if (t.scalar_type() == type) return true;
  MESSAGE(fmt::format("type {}, expected {}", c10::toString(t.scalar_type()), c10::toString(type)));
  return false;
}

at::Tensor f32(std::vector<float> v, std::vector<int64_t> shape) { return at::tensor(v, at::kFloat).reshape(shape); }
at::Tensor i64(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }
at::Tensor bools(std::vector<int64_t> v) { return at::tensor(v, at::kLong).to(at::kBool); }
Attribute ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }
Attribute i(int64_t v) { return Attribute::of_int(v); }
Attribute f(float v) { return Attribute::of_float(v); }
Attribute s(const char* v) { return Attribute::of_string(v); }

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::kFloat);
}

// Naive 2-D convolution; pads are ONNX [top, left, bottom, right].
at::Tensor naive_conv2d(const at::Tensor& xf, const at::Tensor& wf, const at::Tensor& bf, std::vector<int64_t> st,
                        std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t group) {
  at::Tensor xd = xf.to(at::kDouble), wd = wf.to(at::kDouble);
  auto x = xd.accessor<double, 4>();
  auto w = wd.accessor<double, 4>();
  const int64_t N = xd.size(0), C = xd.size(1), H = xd.size(2), W = xd.size(3), M = wd.size(0), kh = wd.size(2),
                kw = wd.size(3), Cg = C / group, Mg = M / group;
  const int64_t Ho = (H + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / st[0] + 1;
  const int64_t Wo = (W + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / st[1] + 1;
  at::Tensor yd = at::zeros({N, M, Ho, Wo}, at::kDouble);
  auto y = yd.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double acc = bf.defined() ? bf[m].item<double>() : 0.0;
          const int64_t g = m / Mg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ih = oh * st[0] - pads[0] + p * dil[0], iw = ow * st[1] - pads[1] + q * dil[1];
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc += x[n][g * Cg + c][ih][iw] * w[m][c][p][q];
              }
          y[n][m][oh][ow] = acc;
        }
  return yd;
}

// Naive 2-D transposed convolution (scatter form); pads [top, left, bottom, right].
at::Tensor naive_conv_transpose2d(const at::Tensor& xf, const at::Tensor& wf, const at::Tensor& bf,
                                  std::vector<int64_t> st, std::vector<int64_t> pads, std::vector<int64_t> dil,
                                  std::vector<int64_t> out_pad, int64_t group) {
  at::Tensor xd = xf.to(at::kDouble), wd = wf.to(at::kDouble);
  auto x = xd.accessor<double, 4>();
  auto w = wd.accessor<double, 4>();
  const int64_t N = xd.size(0), C = xd.size(1), H = xd.size(2), W = xd.size(3), Mg = wd.size(1), kh = wd.size(2),
                kw = wd.size(3), Cg = C / group, M = Mg * group;
  const int64_t Ho = st[0] * (H - 1) + out_pad[0] + (kh - 1) * dil[0] + 1 - pads[0] - pads[2];
  const int64_t Wo = st[1] * (W - 1) + out_pad[1] + (kw - 1) * dil[1] + 1 - pads[1] - pads[3];
  at::Tensor yd = at::zeros({N, M, Ho, Wo}, at::kDouble);
  if (bf.defined()) yd += bf.to(at::kDouble).reshape({1, M, 1, 1});
  auto y = yd.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t m = 0; m < Mg; ++m)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t oh = ih * st[0] + p * dil[0] - pads[0], ow = iw * st[1] + q * dil[1] - pads[1];
                if (oh >= 0 && oh < Ho && ow >= 0 && ow < Wo)
                  y[n][(c / Cg) * Mg + m][oh][ow] += x[n][c][ih][iw] * w[c][m][p][q];
              }
  return yd;
}

// Output length of a pooling window (ONNX/torch rule: in ceil mode the last window must start
// inside the input or the leading padding).
int64_t pool_len(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d, bool ceil) {
  const int64_t span = in + pb + pe - ((k - 1) * d + 1);
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + pb) --out;
  return out;
}

// Naive 2-D max/average pooling over an [N, C, H, W] tensor; pads [top, left, bottom, right].
// Average: count_include_pad counts positions inside the padded extent, never beyond it.
at::Tensor naive_pool2d(const at::Tensor& xf, bool is_max, std::vector<int64_t> k, std::vector<int64_t> st,
                        std::vector<int64_t> pads, std::vector<int64_t> dil, bool ceil, bool include_pad) {
  at::Tensor xd = xf.to(at::kDouble);
  auto x = xd.accessor<double, 4>();
  const int64_t N = xd.size(0), C = xd.size(1), H = xd.size(2), W = xd.size(3);
  const int64_t Ho = pool_len(H, k[0], st[0], pads[0], pads[2], dil[0], ceil);
  const int64_t Wo = pool_len(W, k[1], st[1], pads[1], pads[3], dil[1], ceil);
  at::Tensor yd = at::zeros({N, C, Ho, Wo}, at::kDouble);
  auto y = yd.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t count = 0;
          for (int64_t p = 0; p < k[0]; ++p)
            for (int64_t q = 0; q < k[1]; ++q) {
              const int64_t ih = oh * st[0] - pads[0] + p * dil[0], iw = ow * st[1] - pads[1] + q * dil[1];
              const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
              const bool in_padded = ih < H + pads[2] && iw < W + pads[3];
              if (inside) best = std::max(best, x[n][c][ih][iw]), sum += x[n][c][ih][iw];
              if (inside || (include_pad && in_padded)) ++count;
            }
          y[n][c][oh][ow] = is_max ? best : sum / count;
        }
  return yd;
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("Conv matches a naive loop: strides, dilations, groups, asymmetric pads, bias") {
  struct Case { int64_t C, M, group; std::vector<int64_t> k, st, pads, dil; bool bias; };
  const std::vector<Case> cases = {
      {3, 4, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},
      {4, 6, 2, {3, 2}, {2, 1}, {0, 1, 2, 0}, {1, 2}, true},   // asymmetric pads
      {4, 4, 4, {3, 3}, {2, 2}, {1, 1, 1, 1}, {2, 2}, false},  // depthwise, dilated
      {2, 3, 1, {5, 5}, {3, 2}, {3, 0, 1, 2}, {1, 1}, false},
  };
  for (size_t n = 0; n < cases.size(); ++n) {
    CAPTURE(n);
    const Case& c = cases[n];
    at::Tensor x = randn({2, c.C, 9, 8}, 1 + n), w = randn({c.M, c.C / c.group, c.k[0], c.k[1]}, 10 + n);
    at::Tensor b = c.bias ? randn({c.M}, 20 + n) : at::Tensor();
    at::Tensor y = run1("Conv", {x, w, b}, {{"strides", ints(c.st)}, {"pads", ints(c.pads)}, {"dilations", ints(c.dil)},
                                            {"group", i(c.group)}, {"kernel_shape", ints(c.k)}});
    CHECK(close(y, naive_conv2d(x, w, b, c.st, c.pads, c.dil, c.group), 1e-4));
  }
}

TEST_CASE("Conv auto_pad SAME_UPPER / SAME_LOWER / VALID and 1-D / 3-D inputs") {
  at::Tensor x = randn({1, 2, 7, 6}, 3), w = randn({3, 2, 4, 3}, 4);
  // Stride 2 on 7 rows with k=4: out 4, total pad 3+... -> SAME_UPPER puts the odd pixel at the end.
  at::Tensor up = run1("Conv", {x, w}, {{"auto_pad", s("SAME_UPPER")}, {"strides", ints({2, 2})}});
  at::Tensor lo = run1("Conv", {x, w}, {{"auto_pad", s("SAME_LOWER")}, {"strides", ints({2, 2})}});
  // rows: out 4, total = 3*2+4-7 = 3 -> upper (1, 2), lower (2, 1); cols: out 3, total = 2*2+3-6 = 1.
  CHECK(close(up, naive_conv2d(x, w, {}, {2, 2}, {1, 0, 2, 1}, {1, 1}, 1), 1e-4));
  CHECK(close(lo, naive_conv2d(x, w, {}, {2, 2}, {2, 1, 1, 0}, {1, 1}, 1), 1e-4));
  at::Tensor valid = run1("Conv", {x, w}, {{"auto_pad", s("VALID")}});
  CHECK(close(valid, naive_conv2d(x, w, {}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1), 1e-4));

  // 1-D equals the 2-D kernel on a height-1 image.
  at::Tensor x1 = randn({2, 4, 11}, 5), w1 = randn({6, 2, 3}, 6), b1 = randn({6}, 7);
  at::Tensor y1 = run1("Conv", {x1, w1, b1}, {{"pads", ints({2, 1})}, {"strides", ints({2})}, {"group", i(2)},
                                              {"dilations", ints({2})}});
  CHECK(close(y1, naive_conv2d(x1.unsqueeze(2), w1.unsqueeze(2), b1, {1, 2}, {0, 2, 0, 1}, {1, 2}, 2).squeeze(2), 1e-4));
  // 3-D with depth 1 equals 2-D.
  at::Tensor y3 = run1("Conv", {x.unsqueeze(2), w.unsqueeze(2)}, {{"pads", ints({0, 1, 1, 0, 2, 1})}});
  CHECK(close(y3.squeeze(2), naive_conv2d(x, w, {}, {1, 1}, {1, 1, 2, 1}, {1, 1}, 1), 1e-4));
}

TEST_CASE("ConvTranspose matches a naive scatter: pads, output_padding, dilations, groups, output_shape") {
  at::Tensor x = randn({2, 4, 5, 4}, 11), w = randn({4, 3, 3, 2}, 12), b = randn({6}, 13);
  at::Tensor y = run1("ConvTranspose", {x, w, b}, {{"strides", ints({2, 3})}, {"pads", ints({1, 0, 1, 0})},
                                                   {"output_padding", ints({1, 2})}, {"group", i(2)}});
  CHECK(close(y, naive_conv_transpose2d(x, w, b, {2, 3}, {1, 0, 1, 0}, {1, 1}, {1, 2}, 2), 1e-4));
  // Asymmetric pads and dilation take the crop-the-full-output path.
  at::Tensor y2 = run1("ConvTranspose", {x, w.narrow(1, 0, 2)},
                       {{"strides", ints({2, 1})}, {"pads", ints({0, 1, 2, 0})}, {"dilations", ints({2, 2})}});
  CHECK(close(y2, naive_conv_transpose2d(x, w.narrow(1, 0, 2), {}, {2, 1}, {0, 1, 2, 0}, {2, 2}, {0, 0}, 1), 1e-4));
  // output_shape: full rows 2*4+3 = 11 -> 10 gives total 1, cropped at the start (not SAME_UPPER);
  // cols 3*3+2 = 11 -> 12 extends the end with bias-only values (total -1).
  at::Tensor x3 = randn({1, 4, 5, 4}, 14);
  at::Tensor y3 = run1("ConvTranspose", {x3, w, b.narrow(0, 0, 3)}, {{"strides", ints({2, 3})}, {"output_shape", ints({10, 12})}});
  at::Tensor full = naive_conv_transpose2d(x3, w, b.narrow(0, 0, 3), {2, 3}, {0, 0, 0, 0}, {1, 1}, {0, 1}, 1);
  CHECK(close(y3, full.narrow(2, 1, 10), 1e-4));
}

TEST_CASE("MaxPool: pads (asymmetric too), dilations, ceil_mode, Indices") {
  at::Tensor x = randn({2, 3, 9, 10}, 21);
  struct Case { std::vector<int64_t> k, st, pads, dil; bool ceil; };
  const std::vector<Case> cases = {{{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, false},
                                   {{3, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true},
                                   {{2, 3}, {1, 2}, {1, 0, 0, 2}, {1, 1}, false},
                                   {{3, 3}, {2, 3}, {1, 1, 1, 1}, {2, 1}, true}};
  for (size_t n = 0; n < cases.size(); ++n) {
    CAPTURE(n);
    const Case& c = cases[n];
    at::Tensor y = run1("MaxPool", {x}, {{"kernel_shape", ints(c.k)}, {"strides", ints(c.st)}, {"pads", ints(c.pads)},
                                         {"dilations", ints(c.dil)}, {"ceil_mode", i(c.ceil)}});
    CHECK(close(y, naive_pool2d(x, true, c.k, c.st, c.pads, c.dil, c.ceil, false), 0));
  }
  // Indices index the flattened NCHW tensor.
  auto out = test::run_kernel("MaxPool", {x}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}, 2);
  CHECK(type_is(out[1], at::kLong));
  CHECK(x.reshape(-1).index_select(0, out[1].reshape(-1)).equal(out[0].reshape(-1)));
  CHECK(out[1].max().item<int64_t>() > 9 * 10);  // offsets of later planes included
  // auto_pad SAME_UPPER: 9 rows, k=3, s=2 -> out 5, total pad 2.
  at::Tensor same = run1("MaxPool", {x}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"auto_pad", s("SAME_UPPER")}});
  CHECK(close(same, naive_pool2d(x, true, {3, 3}, {2, 2}, {1, 0, 1, 1}, {1, 1}, false, false), 0));
  // 1-D pooling.
  at::Tensor x1 = randn({1, 2, 10}, 22);
  at::Tensor y1 = run1("MaxPool", {x1}, {{"kernel_shape", ints({3})}, {"strides", ints({2})}, {"pads", ints({1, 1})}});
  CHECK(close(y1, naive_pool2d(x1.unsqueeze(2), true, {1, 3}, {1, 2}, {0, 1, 0, 1}, {1, 1}, false, false).squeeze(2), 0));
}

TEST_CASE("AveragePool: count_include_pad 0/1, asymmetric pads, ceil_mode") {
  at::Tensor x = randn({1, 2, 7, 8}, 31);
  struct Case { std::vector<int64_t> k, st, pads; bool ceil, include; };
  const std::vector<Case> cases = {{{3, 3}, {2, 2}, {1, 1, 1, 1}, false, false},
                                   {{3, 3}, {2, 2}, {1, 1, 1, 1}, false, true},
                                   {{3, 2}, {2, 2}, {0, 1, 2, 0}, false, false},  // asymmetric
                                   {{3, 2}, {2, 2}, {0, 1, 2, 0}, false, true},
                                   {{2, 2}, {2, 3}, {0, 0, 0, 0}, true, false},
                                   {{3, 3}, {2, 2}, {1, 0, 0, 1}, true, false},
                                   {{2, 2}, {1, 1}, {3, 0, 0, 0}, false, true}};  // pad > k/2
  for (size_t n = 0; n < cases.size(); ++n) {
    CAPTURE(n);
    const Case& c = cases[n];
    at::Tensor y = run1("AveragePool", {x}, {{"kernel_shape", ints(c.k)}, {"strides", ints(c.st)}, {"pads", ints(c.pads)},
                                             {"ceil_mode", i(c.ceil)}, {"count_include_pad", i(c.include)}});
    CHECK(close(y, naive_pool2d(x, false, c.k, c.st, c.pads, {1, 1}, c.ceil, c.include)));
  }
  CHECK(close(run1("GlobalAveragePool", {x}), x.mean({2, 3}, true)));
  CHECK(close(run1("GlobalMaxPool", {x}), x.amax({2, 3}, true), 0));
}

TEST_CASE("Gemm with transA/transB/alpha/beta, broadcast or absent C; MatMul batched and 1-D") {
  at::Tensor a = randn({4, 3}, 41), b = randn({5, 4}, 42), c = randn({5}, 43);
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble), cd = c.to(at::kDouble);
  at::Tensor ref = at::zeros({3, 5}, at::kDouble);
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 5; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < 4; ++k) acc += ad[k][m].item<double>() * bd[n][k].item<double>();
      ref[m][n] = 0.5 * acc + 2.0 * cd[n].item<double>();
    }
  at::Tensor y = run1("Gemm", {a, b, c}, {{"transA", i(1)}, {"transB", i(1)}, {"alpha", f(0.5f)}, {"beta", f(2.0f)}});
  CHECK(close(y, ref));
  at::Tensor no_c = run1("Gemm", {a.t(), b.t(), at::Tensor()}, {{"alpha", f(0.5f)}});
  CHECK(close(no_c, ref - 2.0 * cd));
  CHECK(close(run1("Gemm", {a.t(), b.t(), c.reshape({1, 5})}), ad.t().mm(bd.t()) + cd));

  at::Tensor p = randn({2, 1, 3, 4}, 44), q = randn({5, 4, 2}, 45);
  CHECK(shape_is(run1("MatMul", {p, q}), {2, 5, 3, 2}));
  at::Tensor v = randn({4}, 46);
  CHECK(close(run1("MatMul", {v, q}), (v.to(at::kDouble).reshape({1, 4}).matmul(q.to(at::kDouble))).squeeze(1)));
}

TEST_CASE("BatchNormalization, InstanceNormalization, LayerNormalization follow their formulas") {
  at::Tensor x = randn({2, 3, 4, 5}, 51), scale = randn({3}, 52), bias = randn({3}, 53), mean = randn({3}, 54),
             var = randn({3}, 55).abs() + 0.5;
  auto ch = [](const at::Tensor& t) { return t.to(at::kDouble).reshape({1, 3, 1, 1}); };
  at::Tensor bn = run1("BatchNormalization", {x, scale, bias, mean, var}, {{"epsilon", f(1e-3f)}});
  CHECK(close(bn, (x.to(at::kDouble) - ch(mean)) / at::sqrt(ch(var) + 1e-3) * ch(scale) + ch(bias)));

  at::Tensor xd = x.to(at::kDouble);
  at::Tensor mu = xd.mean({2, 3}, true), sd = at::sqrt(xd.var({2, 3}, false, true) + 1e-5);
  CHECK(close(run1("InstanceNormalization", {x, scale, bias}), (xd - mu) / sd * ch(scale) + ch(bias), 1e-4));

  at::Tensor g = randn({4, 5}, 56), be = randn({4, 5}, 57);
  auto outs = test::run_kernel("LayerNormalization", {x, g, be}, {{"axis", i(-2)}}, 3);
  at::Tensor lm = xd.mean({2, 3}, true), lv = xd.var({2, 3}, false, true);
  CHECK(close(outs[0], (xd - lm) / at::sqrt(lv + 1e-5) * g + be, 1e-4));
  CHECK(close(outs[1], lm));
  CHECK(close(outs[2], 1.0 / at::sqrt(lv + 1e-5), 1e-4));
  // A scale that only broadcasts to the normalized shape, no bias.
  at::Tensor g1 = randn({1, 5}, 58);
  CHECK(close(run1("LayerNormalization", {x, g1}, {{"axis", i(2)}}), (xd - lm) / at::sqrt(lv + 1e-5) * g1, 1e-4));
}

TEST_CASE("LRN sums squares over the ONNX channel window") {
  at::Tensor x = randn({2, 6, 3, 3}, 61);
  const int64_t size = 4;  // window [c-1, c+2]
  const double alpha = 2e-2, beta = 0.75, bias = 1.5;
  at::Tensor xd = x.to(at::kDouble), ref = at::empty_like(xd);
  for (int64_t c = 0; c < 6; ++c) {
    at::Tensor sq = at::zeros({2, 3, 3}, at::kDouble);
    for (int64_t k = std::max<int64_t>(0, c - 1); k <= std::min<int64_t>(5, c + 2); ++k) sq += xd.select(1, k).pow(2);
    ref.select(1, c).copy_(xd.select(1, c) / at::pow(bias + alpha / size * sq, beta));
  }
  at::Tensor y = run1("LRN", {x}, {{"size", i(size)}, {"alpha", f(alpha)}, {"beta", f(beta)}, {"bias", f(bias)}});
  CHECK(close(y, ref));
}

TEST_CASE("Softmax family: opset-13 single axis and the older 2-D coercion") {
  at::Tensor x = randn({2, 3, 4}, 71);
  CHECK(close(run1("Softmax", {x}), at::softmax(x.to(at::kDouble), -1)));
  CHECK(close(run1("Softmax", {x}, {{"axis", i(1)}}), at::softmax(x.to(at::kDouble), 1)));
  CHECK(close(run1("LogSoftmax", {x}, {{"axis", i(0)}}), at::log_softmax(x.to(at::kDouble), 0)));
  // Opset 11: axis 1 means softmax over the flattened [3*4] tail.
  at::Tensor old = run1("Softmax", {x}, {}, 11);
  CHECK(close(old, at::softmax(x.to(at::kDouble).reshape({2, 12}), 1).reshape({2, 3, 4})));
  at::Tensor hard = run1("Hardmax", {f32({1, 3, 2, 5, 0, 5}, {2, 3})});
  CHECK(hard.equal(f32({0, 1, 0, 1, 0, 0}, {2, 3})));
}

TEST_CASE("Elementwise: broadcasting, integer Div, Pow keeps the base type, activations, variadic") {
  at::Tensor a = f32({1, -2, 3, -4, 5, -6}, {2, 3}), b = f32({2, 4, -8}, {3});
  CHECK(run1("Add", {a, b}).equal(f32({3, 2, -5, -2, 9, -14}, {2, 3})));
  CHECK(run1("Sub", {a, b}).equal(f32({-1, -6, 11, -6, 1, 2}, {2, 3})));
  CHECK(run1("Div", {a, b}).equal(f32({0.5, -0.5, -0.375, -2, 1.25, 0.75}, {2, 3})));
  at::Tensor n = i64({7, -7, 9}), d = i64({2, 2, -4});
  at::Tensor q = run1("Div", {n, d});
  CHECK(type_is(q, at::kLong));
  CHECK(q.equal(i64({3, -3, -2})));  // truncation toward zero
  CHECK(run1("Mul", {n, i64({3})}).equal(i64({21, -21, 27})));
  at::Tensor p = run1("Pow", {f32({2, 3}, {2}), i64({3})});
  CHECK(type_is(p, at::kFloat));
  CHECK(p.equal(f32({8, 27}, {2})));
  CHECK(run1("Pow", {i64({2, 3}), f32({2}, {1})}).equal(i64({4, 9})));
  CHECK(run1("Equal", {n, i64({7})}).equal(bools({1, 0, 0})));
  CHECK(run1("Where", {bools({1, 0, 1}), n, d}).equal(i64({7, 2, 9})));

  at::Tensor x = f32({-2, -0.5, 0, 0.5, 3}, {5});
  at::Tensor xd = x.to(at::kDouble);
  CHECK(close(run1("HardSigmoid", {x}), at::clamp(0.2 * xd + 0.5, 0, 1)));
  CHECK(close(run1("HardSigmoid", {x}, {{"alpha", f(0.5f)}, {"beta", f(0.25f)}}), at::clamp(0.5 * xd + 0.25, 0, 1)));
  CHECK(close(run1("HardSwish", {x}), xd * at::clamp(xd / 6 + 0.5, 0, 1)));
  CHECK(close(run1("LeakyRelu", {x}, {{"alpha", f(0.1f)}}), at::where(xd < 0, 0.1 * xd, xd)));
  CHECK(close(run1("Elu", {x}, {{"alpha", f(2.0f)}}), at::where(xd < 0, 2.0 * (at::exp(xd) - 1), xd)));
  const double sa = 1.67326319217681884765625, sg = 1.05070102214813232421875;
  CHECK(close(run1("Selu", {x}), sg * at::where(xd <= 0, sa * (at::exp(xd) - 1), xd)));
  CHECK(close(run1("Softplus", {x}), at::log(at::exp(xd) + 1)));
  CHECK(close(run1("Erf", {x}), at::erf(xd)));
  CHECK(run1("Round", {f32({0.5, 1.5, 2.5, -0.5, -1.5}, {5})}).equal(f32({0, 2, 2, -0, -2}, {5})));

  // PRelu slope broadcasts numpy-style: here along the last axis, not channels.
  at::Tensor px = f32({-1, -2, 3, -4, 5, -6}, {1, 2, 3}), slope = f32({0.1f, 0.2f, 0.3f}, {3});
  CHECK(close(run1("PRelu", {px, slope}), f32({-0.1f, -0.4f, 3, -0.4f, 5, -1.8f}, {1, 2, 3})));
  // An opset-6 style [C] slope that cannot broadcast from the right applies per channel.
  at::Tensor channel = run1("PRelu", {px, f32({0.5f, 0.25f}, {2})});
  CHECK(close(channel, f32({-0.5f, -1, 3, -1, 5, -1.5f}, {1, 2, 3})));

  // Clip with both, one or no bounds (omitted optional inputs are undefined tensors).
  at::Tensor lo = at::scalar_tensor(-1.0f), hi = at::scalar_tensor(2.0f);
  CHECK(run1("Clip", {x, lo, hi}).equal(f32({-1, -0.5, 0, 0.5, 2}, {5})));
  CHECK(run1("Clip", {x, at::Tensor(), hi}).equal(f32({-2, -0.5, 0, 0.5, 2}, {5})));
  CHECK(run1("Clip", {x}).equal(x));

  at::Tensor u = f32({1, 5}, {2}), v = f32({4, 2}, {2}), w = f32({3}, {1});
  CHECK(run1("Sum", {u, v, w}).equal(f32({8, 10}, {2})));
  CHECK(run1("Max", {u, v, w}).equal(f32({4, 5}, {2})));
  CHECK(run1("Min", {u, v, w}).equal(f32({1, 2}, {2})));
  CHECK(run1("Mean", {u, v, w}).equal(f32({8.f / 3, 10.f / 3}, {2})));
  CHECK(run1("Max", {u}).equal(u));
}

TEST_CASE("Cast to each supported type; unsupported targets throw InputError") {
  at::Tensor x = f32({-1.7f, 0, 2.9f}, {3});
  const std::vector<std::pair<int64_t, at::ScalarType>> to = {{1, at::kFloat}, {2, at::kByte},  {3, at::kChar},
                                                              {5, at::kShort}, {6, at::kInt},   {7, at::kLong},
                                                              {9, at::kBool},  {10, at::kHalf}, {11, at::kDouble}};
  for (auto [onnx_type, type] : to) {
    CAPTURE(onnx_type);
    CHECK(type_is(run1("Cast", {x}, {{"to", i(onnx_type)}}), type));
  }
  CHECK(run1("Cast", {x}, {{"to", i(7)}}).equal(i64({-1, 0, 2})));  // truncation
  CHECK(run1("Cast", {x}, {{"to", i(9)}}).equal(bools({1, 0, 1})));
  CHECK_THROWS_AS(run1("Cast", {x}, {{"to", i(8)}}), InputError);  // STRING
}

TEST_CASE("QuantizeLinear / DequantizeLinear: half-to-even rounding, saturation, per-axis") {
  at::Tensor x = f32({-300, -1.5, -0.5, 0.5, 1.5, 2.5, 300}, {7});
  at::Tensor q = run1("QuantizeLinear", {x, at::scalar_tensor(1.0f), at::scalar_tensor(0, at::kByte).to(at::kByte)});
  CHECK(type_is(q, at::kByte));
  CHECK(q.equal(at::tensor({0, 0, 0, 0, 2, 2, 255}, at::kByte)));
  at::Tensor q8 = run1("QuantizeLinear", {x, at::scalar_tensor(1.0f), at::scalar_tensor(1, at::kChar)});
  CHECK(q8.equal(at::tensor({-128, -1, 1, 1, 3, 3, 127}, at::kChar)));
  // No zero point: uint8 with zero point 0.
  CHECK(run1("QuantizeLinear", {f32({-1, 3}, {2}), at::scalar_tensor(2.0f)}).equal(at::tensor({0, 2}, at::kByte)));

  // Per-axis over axis 1 of [2, 3].
  at::Tensor w = f32({0.1f, -0.4f, 1.0f, -0.2f, 0.6f, 2.0f}, {2, 3});
  at::Tensor scale = f32({0.1f, 0.2f, 0.5f}, {3});
  at::Tensor zp = at::tensor({0, 10, -3}, at::kChar);
  at::Tensor wq = run1("QuantizeLinear", {w, scale, zp});
  CHECK(wq.equal(at::tensor({1, 8, -1, -2, 13, 1}, at::kChar).reshape({2, 3})));
  at::Tensor back = run1("DequantizeLinear", {wq, scale, zp});
  CHECK(type_is(back, at::kFloat));
  CHECK(close(back, f32({0.1f, -0.4f, 1.0f, -0.2f, 0.6f, 2.0f}, {2, 3}), 1e-6));
  // axis 0, and (x - zp) * scale per tensor.
  at::Tensor s0 = f32({1, 2}, {2});
  CHECK(run1("DequantizeLinear", {at::tensor({3, 4, 5, 6}, at::kByte).reshape({2, 2}), s0, at::tensor({1, 2}, at::kByte)},
             {{"axis", i(0)}})
            .equal(f32({2, 3, 6, 8}, {2, 2})));
  CHECK(run1("DequantizeLinear", {at::tensor({-128, 127}, at::kChar), at::scalar_tensor(0.5f), at::scalar_tensor(-1, at::kChar)})
            .equal(f32({-63.5f, 64}, {2})));
}

TEST_CASE("Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Expand, Tile") {
  at::Tensor x = at::arange(24, at::kFloat).reshape({2, 3, 4});
  CHECK(shape_is(run1("Reshape", {x, i64({0, -1})}), {2, 12}));
  CHECK(shape_is(run1("Reshape", {x, i64({4, 0, -1})}), {4, 3, 2}));
  CHECK(shape_is(run1("Reshape", {at::zeros({0, 3}), i64({3, 0})}, {{"allowzero", i(1)}}), {3, 0}));
  CHECK(shape_is(run1("Flatten", {x}), {2, 12}));
  CHECK(shape_is(run1("Flatten", {x}, {{"axis", i(0)}}), {1, 24}));
  CHECK(shape_is(run1("Flatten", {x}, {{"axis", i(-1)}}), {6, 4}));
  CHECK(shape_is(run1("Flatten", {x}, {{"axis", i(3)}}), {24, 1}));
  CHECK(run1("Transpose", {x}).equal(x.permute({2, 1, 0})));
  CHECK(run1("Transpose", {x}, {{"perm", ints({1, 0, 2})}}).equal(x.permute({1, 0, 2})));

  at::Tensor y = at::zeros({1, 3, 1, 2});
  CHECK(shape_is(run1("Squeeze", {y}), {3, 2}));
  CHECK(shape_is(run1("Squeeze", {y, i64({-2})}), {1, 3, 2}));
  CHECK(shape_is(run1("Squeeze", {y}, {{"axes", ints({0})}}, 11), {3, 1, 2}));
  CHECK_THROWS_AS(run1("Squeeze", {y, i64({1})}), InputError);
  CHECK(shape_is(run1("Unsqueeze", {x, i64({0, -1})}), {1, 2, 3, 4, 1}));
  CHECK(shape_is(run1("Unsqueeze", {x, i64({1, 3})}), {2, 1, 3, 1, 4}));
  CHECK(shape_is(run1("Unsqueeze", {at::scalar_tensor(5.0f), i64({0})}), {1}));

  at::Tensor e = f32({1, 2, 3}, {3, 1});
  at::Tensor ex = run1("Expand", {e, i64({2, 1, 4})});
  CHECK(shape_is(ex, {2, 3, 4}));
  CHECK(ex.select(0, 1).select(1, 3).equal(f32({1, 2, 3}, {3})));
  CHECK(shape_is(run1("Expand", {e, i64({1})}), {3, 1}));
  CHECK_THROWS_AS(run1("Expand", {e, i64({2, 2})}), InputError);
  CHECK(run1("Tile", {f32({1, 2}, {1, 2}), i64({2, 2})}).equal(f32({1, 2, 1, 2, 1, 2, 1, 2}, {2, 4})));
}

TEST_CASE("Slice: negative steps, clamped and negative bounds, attribute form") {
  at::Tensor x = at::arange(10, at::kLong);
  auto sl = [&](std::vector<int64_t> st, std::vector<int64_t> en, std::vector<int64_t> steps) {
    return run1("Slice", {x, i64(st), i64(en), i64({0}), i64(steps)});
  };
  CHECK(sl({2}, {8}, {3}).equal(i64({2, 5})));
  CHECK(sl({-3}, {100}, {1}).equal(i64({7, 8, 9})));
  CHECK(sl({8}, {2}, {-2}).equal(i64({8, 6, 4})));
  CHECK(sl({-1}, {std::numeric_limits<int64_t>::min()}, {-1}).equal(at::arange(9, -1, -1, at::kLong)));
  CHECK(sl({100}, {-100}, {-4}).equal(i64({9, 5, 1})));
  CHECK(sl({5}, {2}, {1}).numel() == 0);
  at::Tensor m = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor y = run1("Slice", {m, i64({1, -1}), i64({3, 0}), i64({0, 1}), i64({1, -2})});
  CHECK(y.equal(f32({7, 5, 11, 9}, {2, 2})));
  at::Tensor no_axes = run1("Slice", {m, i64({1}), i64({2})});
  CHECK(no_axes.equal(m.narrow(0, 1, 1)));
  CHECK(run1("Slice", {m}, {{"starts", ints({1})}, {"ends", ints({3})}, {"axes", ints({1})}}, 9).equal(m.narrow(1, 1, 2)));
}

TEST_CASE("Gather (negative indices, scalar index), Concat, Split, Shape, Size, Range") {
  at::Tensor x = at::arange(12, at::kFloat).reshape({3, 4});
  CHECK(run1("Gather", {x, i64({-1, 0})}).equal(f32({8, 9, 10, 11, 0, 1, 2, 3}, {2, 4})));
  CHECK(run1("Gather", {x, at::scalar_tensor(-2, at::kLong)}, {{"axis", i(1)}}).equal(f32({2, 6, 10}, {3})));
  at::Tensor idx2 = at::tensor({0, 3, 1, 1}, at::kInt).reshape({2, 2});
  CHECK(shape_is(run1("Gather", {x, idx2}, {{"axis", i(1)}}), {3, 2, 2}));
  CHECK(run1("Concat", {i64({1}), i64({2, 3})}, {{"axis", i(0)}}).equal(i64({1, 2, 3})));
  CHECK(shape_is(run1("Concat", {x, x}, {{"axis", i(-1)}}), {3, 8}));

  auto parts = test::run_kernel("Split", {x, i64({1, 3})}, {{"axis", i(1)}}, 2);
  CHECK(parts[0].equal(x.narrow(1, 0, 1)));
  CHECK(parts[1].equal(x.narrow(1, 1, 3)));
  auto equal = test::run_kernel("Split", {x}, {}, 3);
  CHECK(equal[2].equal(x.narrow(0, 2, 1)));
  auto uneven = test::run_kernel("Split", {at::arange(5)}, {{"num_outputs", i(3)}}, 3, 18);
  CHECK(uneven[0].numel() == 2);
  CHECK(uneven[2].numel() == 1);
  CHECK(shape_is(test::run_kernel("Split", {x}, {{"axis", i(1)}, {"split", ints({3, 1})}}, 2, 11)[0], {3, 3}));

  at::Tensor t = at::zeros({2, 3, 4, 5});
  CHECK(run1("Shape", {t}).equal(i64({2, 3, 4, 5})));
  CHECK(run1("Shape", {t}, {{"start", i(1)}, {"end", i(-1)}}).equal(i64({3, 4})));
  CHECK(run1("Shape", {t}, {{"start", i(-10)}, {"end", i(10)}}).equal(i64({2, 3, 4, 5})));
  CHECK(run1("Size", {t}).equal(at::scalar_tensor(120, at::kLong)));

  auto sc = [](auto v, at::ScalarType type) { return at::scalar_tensor(v, type); };
  CHECK(run1("Range", {sc(1, at::kLong), sc(10, at::kLong), sc(3, at::kLong)}).equal(i64({1, 4, 7})));
  CHECK(run1("Range", {sc(10, at::kInt), sc(4, at::kInt), sc(-2, at::kInt)}).equal(at::tensor({10, 8, 6}, at::kInt)));
  CHECK(run1("Range", {sc(5, at::kLong), sc(1, at::kLong), sc(1, at::kLong)}).numel() == 0);
  CHECK(close(run1("Range", {sc(0.5, at::kFloat), sc(2.0, at::kFloat), sc(0.5, at::kFloat)}), f32({0.5, 1, 1.5}, {3}), 0));
}

TEST_CASE("Constant and ConstantOfShape") {
  CHECK(run1("Constant", {}, {{"value", Attribute::of_tensor(f32({1, 2}, {2}))}}).equal(f32({1, 2}, {2})));
  CHECK(run1("Constant", {}, {{"value_float", f(2.5f)}}).equal(at::scalar_tensor(2.5f)));
  CHECK(run1("Constant", {}, {{"value_int", i(7)}}).equal(at::scalar_tensor(7, at::kLong)));
  CHECK(run1("Constant", {}, {{"value_ints", ints({1, 2})}}).equal(i64({1, 2})));
  CHECK(run1("Constant", {}, {{"value_floats", Attribute::of_floats({1.5f})}}).equal(f32({1.5f}, {1})));
  CHECK_THROWS_AS(run1("Constant", {}, {{"value_string", s("a")}}), InputError);

  at::Tensor z = run1("ConstantOfShape", {i64({2, 3})});
  CHECK(z.equal(at::zeros({2, 3})));
  at::Tensor v = run1("ConstantOfShape", {i64({4})}, {{"value", Attribute::of_tensor(at::tensor({3}, at::kLong))}});
  CHECK(v.equal(i64({3, 3, 3, 3})));
  CHECK(run1("ConstantOfShape", {at::zeros({0}, at::kLong)}).dim() == 0);
}

TEST_CASE("Pad: constant, reflect, edge, wrap, negative pads and axes") {
  at::Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  at::Tensor c = run1("Pad", {x, i64({0, 1, 1, 0}), at::scalar_tensor(9.0f)});
  CHECK(c.equal(f32({9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9}, {3, 4})));
  CHECK(run1("Pad", {x, i64({0, 2, 0, 1})}, {{"mode", s("reflect")}})
            .equal(f32({3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}, {2, 6})));
  CHECK(run1("Pad", {x, i64({1, 1, 0, 2})}, {{"mode", s("edge")}})
            .equal(f32({1, 1, 2, 3, 3, 3, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6}, {3, 6})));
  CHECK(run1("Pad", {x, i64({0, 1, 0, 2})}, {{"mode", s("wrap")}}).equal(f32({3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5}, {2, 6})));
  // Negative pads crop.
  CHECK(run1("Pad", {x, i64({0, -1, -1, 1})}).equal(f32({2, 3, 0}, {1, 3})));
  CHECK(run1("Pad", {x, i64({0, -1, 0, 1})}, {{"mode", s("edge")}}).equal(f32({2, 3, 3, 5, 6, 6}, {2, 3})));
  // Opset 18 axes input, and the opset-2 attribute form.
  CHECK(run1("Pad", {x, i64({1, 0}), at::Tensor(), i64({-1})}, {}, 18).equal(f32({0, 1, 2, 3, 0, 4, 5, 6}, {2, 4})));
  CHECK(shape_is(run1("Pad", {x}, {{"pads", ints({1, 0, 0, 0})}, {"value", f(-1)}}, 9), {3, 3}));
  CHECK_THROWS_AS(run1("Pad", {x, i64({0, 0, 0, 0})}, {{"mode", s("mirror")}}), InputError);
}

TEST_CASE("Resize nearest, linear and cubic: coordinate modes, nearest modes, scales or sizes") {
  at::Tensor x = at::arange(16, at::kFloat).reshape({1, 1, 4, 4});
  at::Tensor none;
  at::Tensor scales = f32({1, 1, 0.5f, 0.5f}, {4});
  // asymmetric + floor downsampling picks rows/cols 0, 2.
  at::Tensor y = run1("Resize", {x, none, scales}, {{"coordinate_transformation_mode", s("asymmetric")},
                                                    {"nearest_mode", s("floor")}});
  CHECK(y.equal(f32({0, 2, 8, 10}, {1, 1, 2, 2})));
  // half_pixel + round_prefer_floor: (i + 0.5) * 2 - 0.5 = 0.5, 2.5 -> 0, 2.
  CHECK(run1("Resize", {x, none, scales}).equal(f32({0, 2, 8, 10}, {1, 1, 2, 2})));
  // round_prefer_ceil: 0.5, 2.5 -> 1, 3.
  CHECK(run1("Resize", {x, none, scales}, {{"nearest_mode", s("round_prefer_ceil")}}).equal(f32({5, 7, 13, 15}, {1, 1, 2, 2})));
  // Upsampling x2 nearest (asymmetric floor) repeats each pixel.
  at::Tensor up = run1("Resize", {x, none, f32({1, 1, 2, 2}, {4})},
                       {{"coordinate_transformation_mode", s("asymmetric")}, {"nearest_mode", s("floor")}});
  CHECK(up.equal(x.repeat_interleave(2, 2).repeat_interleave(2, 3)));
  // sizes input (scales empty), align_corners 4 -> 3: src 0, 1.5, 3 -> round_prefer_floor 0, 1, 3.
  at::Tensor sz = run1("Resize", {x, none, at::zeros({0}), i64({1, 1, 3, 3})},
                       {{"coordinate_transformation_mode", s("align_corners")}});
  CHECK(sz.equal(f32({0, 1, 3, 4, 5, 7, 12, 13, 15}, {1, 1, 3, 3})));

  // Linear agrees with ATen's bilinear upsampling for half_pixel and align_corners.
  at::Tensor img = randn({2, 3, 5, 7}, 81);
  at::Tensor lin = run1("Resize", {img, none, f32({1, 1, 2, 1.5f}, {4})}, {{"mode", s("linear")}});
  CHECK(close(lin, at::upsample_bilinear2d(img, {10, 10}, false, 2.0, 1.5)));
  at::Tensor lin_ac = run1("Resize", {img, none, at::Tensor(), i64({2, 3, 9, 4})},
                           {{"mode", s("linear")}, {"coordinate_transformation_mode", s("align_corners")}});
  CHECK(close(lin_ac, at::upsample_bilinear2d(img, {9, 4}, true)));
  // asymmetric linear by hand: 1-D [0, 10] x2 -> src 0, 0.5, 1, 1.5 (clamped to 1).
  at::Tensor a = run1("Resize", {f32({0, 10}, {1, 2}), none, f32({1, 2}, {2})},
                      {{"mode", s("linear")}, {"coordinate_transformation_mode", s("asymmetric")}});
  CHECK(close(a, f32({0, 5, 10, 10}, {1, 4})));
  // Cubic (A = -0.75, edges repeated) is PyTorch's bicubic: align_corners and half_pixel.
  for (const bool corners : {true, false}) {
    CAPTURE(corners);
    at::Tensor cubic = run1("Resize", {img, none, at::Tensor(), i64({2, 3, 9, 4})},
                            {{"mode", s("cubic")},
                             {"coordinate_transformation_mode", s(corners ? "align_corners" : "half_pixel")}});
    CHECK(close(cubic, at::upsample_bicubic2d(img, {9, 4}, corners)));
  }
  CHECK_THROWS_AS(run1("Resize", {x, none, scales}, {{"coordinate_transformation_mode", s("tf_crop_and_resize")}}), InputError);
}

TEST_CASE("LSTM and GRU equal ATen's at::lstm / at::gru (gates reordered), both directions; sequence_lens masks") {
  at::manual_seed(8);
  const int64_t T = 5, B = 3, I = 4, H = 6;
  const at::Tensor x = at::randn({T, B, I});
  // ONNX stacks LSTM gates i, o, f, c and GRU gates z, r, h; ATen i, f, g, o and r, z, n.
  auto reorder = [&](const at::Tensor& t, std::vector<int64_t> order) {
    std::vector<at::Tensor> parts;
    for (int64_t k : order) parts.push_back(t.narrow(0, k * H, H));
    return at::cat(parts);
  };
  for (const char* op : {"LSTM", "GRU"}) {
    CAPTURE(op);
    const bool lstm = std::string(op) == "LSTM";
    const int64_t G = lstm ? 4 : 3;
    const at::Tensor w = at::randn({2, G * H, I}) * 0.4, r = at::randn({2, G * H, H}) * 0.4, b = at::randn({2, 2 * G * H}) * 0.1;
    std::map<std::string, Attribute> attrs = {{"direction", s("bidirectional")}, {"hidden_size", i(H)}};
    if (!lstm) attrs["linear_before_reset"] = i(1);   // ATen's GRU applies the reset after the projection
    const std::vector<at::Tensor> ours = test::run_kernel(op, {x, w, r, b}, attrs, lstm ? 3 : 2);
    const std::vector<int64_t> order = lstm ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{1, 0, 2};
    std::vector<at::Tensor> params;
    for (int64_t d = 0; d < 2; ++d) {
      params.push_back(reorder(w[d], order));
      params.push_back(reorder(r[d], order));
      params.push_back(reorder(b[d].narrow(0, 0, G * H), order));
      params.push_back(reorder(b[d].narrow(0, G * H, G * H), order));
    }
    const at::Tensor h0 = at::zeros({2, B, H});
    at::Tensor y, hn;
    if (lstm) std::tie(y, hn, std::ignore) = at::lstm(x, {h0, h0}, params, true, 1, 0, false, true, false);
    else std::tie(y, hn) = at::gru(x, h0, params, true, 1, 0, false, true, false);
    // ONNX Y is [T, dirs, B, H]; ATen [T, B, dirs * H]. Tolerance 1e-5: the same float math in another order.
    CHECK(at::allclose(ours[0], y.reshape({T, B, 2, H}).permute({0, 2, 1, 3}), 1e-4, 1e-5));
    CHECK(at::allclose(ours[1], hn, 1e-4, 1e-5));
  }
  // sequence_lens: entry 1 stops after 2 steps; its later outputs are zero and Y_h is step 2's.
  const at::Tensor w = at::randn({1, 4 * H, I}), r = at::randn({1, 4 * H, H});
  const std::vector<at::Tensor> full = test::run_kernel("LSTM", {x, w, r}, {{"hidden_size", i(H)}}, 3);
  const std::vector<at::Tensor> cut = test::run_kernel("LSTM", {x, w, r, at::Tensor(), i64({5, 2, 5}).to(at::kInt)}, {{"hidden_size", i(H)}}, 3);
  CHECK(at::allclose(cut[0].select(2, 1).narrow(0, 0, 2), full[0].select(2, 1).narrow(0, 0, 2)));
  CHECK(cut[0].select(2, 1).narrow(0, 2, 3).abs().max().item<double>() == 0);
  CHECK(at::allclose(cut[1].select(1, 1), full[0][1].select(1, 1)));
  CHECK(at::allclose(cut[0].select(2, 0), full[0].select(2, 0)));   // full-length entries unchanged
}

TEST_CASE("NonMaxSuppression: IoU and score thresholds, per-class limit, corner order and center boxes") {
  // Boxes 0 and 1 overlap with IoU 90/100 = 0.9 (10x9 inside 10x10); box 2 is apart.
  const at::Tensor corners = f32({0, 0, 10, 10, 0, 1, 10, 10, 20, 20, 30, 30}, {1, 3, 4});
  const at::Tensor scores = f32({0.9f, 0.95f, 0.5f, 0.1f, 0.2f, 0.3f}, {1, 2, 3});
  auto nms = [&](const at::Tensor& boxes, int64_t limit, float iou, std::optional<float> score, int64_t center = 0) {
    std::vector<at::Tensor> in = {boxes, scores, i64({limit}), f32({iou}, {1})};
    if (score) in.push_back(f32({*score}, {1}));
    return run1("NonMaxSuppression", in, {{"center_point_box", i(center)}});
  };
  // Class 0: 1 (0.95) kept, 0 suppressed (0.9 > 0.8), 2 kept; class 1: 2, then 1, and 0 suppressed by 1.
  CHECK(nms(corners, 5, 0.8f, std::nullopt).equal(i64({0, 0, 1, 0, 0, 2, 0, 1, 2, 0, 1, 1}).reshape({4, 3})));
  // IoU 0.9 <= 0.95 keeps both; the limit of 2 per class cuts the third.
  CHECK(nms(corners, 2, 0.95f, std::nullopt).equal(i64({0, 0, 1, 0, 0, 0, 0, 1, 2, 0, 1, 1}).reshape({4, 3})));
  // Scores must exceed 0.25: class 1 keeps box 2 only.
  CHECK(nms(corners, 5, 0.8f, 0.25f).equal(i64({0, 0, 1, 0, 0, 2, 0, 1, 2}).reshape({3, 3})));
  // The same boxes as centers [xc, yc, w, h], and corners given in the other order.
  const at::Tensor centers = f32({5, 5, 10, 10, 5.5f, 5, 9, 10, 25, 25, 10, 10}, {1, 3, 4});
  CHECK(nms(centers, 5, 0.8f, std::nullopt, 1).equal(nms(corners, 5, 0.8f, std::nullopt)));
  const at::Tensor flipped = f32({10, 10, 0, 0, 10, 10, 0, 1, 30, 30, 20, 20}, {1, 3, 4});
  CHECK(nms(flipped, 5, 0.8f, std::nullopt).equal(nms(corners, 5, 0.8f, std::nullopt)));
  CHECK(nms(corners, 0, 0.8f, std::nullopt).size(0) == 0);
}

TEST_CASE("Hann, Hamming and Blackman windows equal ATen's; ReverseSequence; MaxPool on uint8") {
  for (const bool periodic : {true, false}) {
    CAPTURE(periodic);
    const std::map<std::string, Attribute> a = {{"periodic", i(periodic)}};
    const at::Tensor n = i64({10}).reshape({});
    // Tolerance 1e-6: double cosines rounded to float on both sides.
    CHECK(at::allclose(run1("HannWindow", {n}, a), at::hann_window(10, periodic, at::kFloat), 0, 1e-6));
    CHECK(at::allclose(run1("HammingWindow", {n}, a), at::hamming_window(10, periodic, 25.0 / 46, 21.0 / 46, at::kFloat), 0, 1e-6));
    CHECK(at::allclose(run1("BlackmanWindow", {n}, a), at::blackman_window(10, periodic, at::kFloat), 0, 1e-6));
  }
  CHECK((run1("HannWindow", {i64({4}).reshape({})}, {{"output_datatype", i(11)}}).scalar_type() == at::kDouble));
  // [time 4, batch 2]: batch 0 reverses its first 3 steps, batch 1 its first 1 (nothing).
  const at::Tensor seq = at::arange(8, at::kFloat).reshape({4, 2});
  CHECK(run1("ReverseSequence", {seq, i64({3, 1})}).equal(f32({4, 1, 2, 3, 0, 5, 6, 7}, {4, 2})));
  // [batch 2, time 4]: rows [0 2 4 6] and [1 3 5 7], their first 2 and 4 steps reversed.
  CHECK(run1("ReverseSequence", {seq.t().contiguous(), i64({2, 4})}, {{"batch_axis", i(0)}, {"time_axis", i(1)}})
            .equal(f32({2, 0, 4, 6, 7, 5, 3, 1}, {2, 4})));
  const at::Tensor bytes = at::tensor(std::vector<uint8_t>{1, 200, 3, 4, 5, 6, 7, 255, 9}, at::kByte).reshape({1, 1, 3, 3});
  const at::Tensor pooled = run1("MaxPool", {bytes}, {{"kernel_shape", Attribute::of_ints({2, 2})}});
  CHECK((pooled.scalar_type() == at::kByte));
  CHECK(pooled.equal(at::tensor(std::vector<uint8_t>{200, 200, 255, 255}, at::kByte).reshape({1, 1, 2, 2})));
}

TEST_CASE("Reductions: axes as attribute or input, keepdims, noop_with_empty_axes, integer types; ArgMax") {
  at::Tensor x = randn({2, 3, 4}, 91);
  at::Tensor xd = x.to(at::kDouble);
  CHECK(close(run1("ReduceSum", {x, i64({1})}), xd.sum(at::IntArrayRef{1}, true)));
  CHECK(close(run1("ReduceSum", {x, i64({0, -1})}, {{"keepdims", i(0)}}), xd.sum(at::IntArrayRef{0, 2})));
  CHECK(close(run1("ReduceSum", {x}), xd.sum().reshape({1, 1, 1})));
  CHECK(run1("ReduceSum", {x, at::zeros({0}, at::kLong)}, {{"noop_with_empty_axes", i(1)}}).equal(x));
  CHECK(close(run1("ReduceMean", {x}, {{"axes", ints({2})}}), xd.mean({2}, true)));
  CHECK(close(run1("ReduceMean", {x, i64({2})}, {}, 18), xd.mean({2}, true)));
  CHECK(close(run1("ReduceMax", {x}, {{"axes", ints({1})}, {"keepdims", i(0)}}), xd.amax({1}), 0));
  CHECK(close(run1("ReduceMin", {x}, {{"axes", ints({0, 2})}}), xd.amin({0, 2}, true), 0));
  CHECK(close(run1("ReduceProd", {x}, {{"axes", ints({0, 2})}}), xd.prod(2, true).prod(0, true)));
  CHECK(close(run1("ReduceL2", {x}, {{"axes", ints({1})}}), xd.pow(2).sum(at::IntArrayRef{1}, true).sqrt()));
  CHECK(close(run1("ReduceL1", {x}, {{"axes", ints({1})}}), xd.abs().sum(at::IntArrayRef{1}, true)));
  CHECK(close(run1("ReduceLogSumExp", {x}, {{"axes", ints({1})}}), xd.logsumexp({1}, true)));
  at::Tensor n = at::tensor({1, 2, 3, 4}, at::kInt).reshape({2, 2});
  at::Tensor ns = run1("ReduceSum", {n, i64({1})}, {{"keepdims", i(0)}});
  CHECK(type_is(ns, at::kInt));
  CHECK(ns.equal(at::tensor({3, 7}, at::kInt)));
  CHECK(run1("ReduceMean", {n}, {{"axes", ints({0})}}).equal(at::tensor({2, 3}, at::kInt).reshape({1, 2})));

  at::Tensor v = f32({1, 5, 5, 2, 7, 7}, {2, 3});
  CHECK(run1("ArgMax", {v}, {{"axis", i(1)}}).equal(i64({1, 1}).reshape({2, 1})));
  CHECK(run1("ArgMax", {v}, {{"axis", i(1)}, {"keepdims", i(0)}, {"select_last_index", i(1)}}).equal(i64({2, 2})));
  CHECK(run1("ArgMin", {v}, {{"axis", i(0)}, {"keepdims", i(0)}}).equal(i64({0, 0, 0})));
  auto top = test::run_kernel("TopK", {v, i64({2})}, {}, 2);
  CHECK(top[0].equal(f32({5, 5, 7, 7}, {2, 2})));
}

TEST_CASE("Dropout is the identity with an all-true mask; Identity, logic and comparisons") {
  at::Tensor x = randn({3, 4}, 101);
  auto out = test::run_kernel("Dropout", {x, at::scalar_tensor(0.5f)}, {}, 2);
  CHECK(out[0].equal(x));
  CHECK(type_is(out[1], at::kBool));
  CHECK(out[1].all().item<bool>());
  CHECK(run1("Identity", {x}).equal(x));
  at::Tensor t = bools({1, 0, 1}), u = bools({1, 1, 0});
  CHECK(run1("And", {t, u}).equal(bools({1, 0, 0})));
  CHECK(run1("Or", {t, u}).equal(bools({1, 1, 1})));
  CHECK(run1("Not", {t}).equal(bools({0, 1, 0})));
  CHECK(run1("Less", {i64({1, 5}), i64({3})}).equal(bools({1, 0})));
  CHECK(run1("Greater", {i64({1, 5}), i64({3})}).equal(bools({0, 1})));
}

TEST_CASE("Bad attributes and missing inputs throw InputError naming the node") {
  at::Tensor x = randn({1, 1, 4, 4}, 111), w = randn({1, 1, 3, 3}, 112);
  CHECK(test::input_error_of([&] { run1("Conv", {x, w}, {{"auto_pad", s("SAME_MIDDLE")}}); }).find("Conv node 'n'") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("Conv", {x}); }).find("Conv node 'n': input 1") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("AveragePool", {x}, {{"kernel_shape", ints({2, 2})}, {"dilations", ints({2, 2})}}); })
            .find("AveragePool node 'n'") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("MaxPool", {x}); }).find("kernel_shape") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("Softmax", {x}, {{"axis", i(4)}}); }).find("axis 4") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("Resize", {x, at::Tensor(), at::tensor({1.f, 1.f, 2.f, 2.f})}, {{"mode", s("area")}}); })
            .find("mode 'area'") != std::string::npos);
  CHECK(test::input_error_of([&] { run1("Reshape", {x, at::tensor({1.5f})}); }).find("integer") != std::string::npos);
}

}  // TEST_SUITE
