// Kernels of core/ops/extra.cpp (losses, indexing/layout, math, integer and quantized ops,
// sampling and detection), one node at a time against hand-computed values (mostly the ONNX
// spec's own examples) or an independent ATen computation. Float checks use 1e-5 absolute unless noted; integer and bool
// outputs must match exactly (tolerance 0).
#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/executor.h"
#include "core/ir.h"
#include "tests/helpers.h"

using namespace edgepack;

namespace {

constexpr double kTol = 1e-5;


at::Tensor run1(const std::string& op, const std::vector<at::Tensor>& inputs, std::map<std::string, Attribute> attrs = {}) {
  return test::run_kernel(op, inputs, std::move(attrs))[0];
}

bool close(const at::Tensor& a, const at::Tensor& b, double tol = kTol) {
  std::string why;
  const bool ok = test::near(a, b, tol, &why);
  if (!ok) MESSAGE(why);
  return ok;
}

// Same type, same shape, equal values.
bool same(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type()) {
    MESSAGE(fmt::format("type {} vs {}", c10::toString(a.scalar_type()), c10::toString(b.scalar_type())));
    return false;
  }
  return close(a, b, 0.0);
}

at::Tensor f32(std::vector<float> v, std::vector<int64_t> shape) { return at::tensor(v, at::kFloat).reshape(shape); }
at::Tensor f32(std::vector<float> v) { return at::tensor(v, at::kFloat); }
at::Tensor i64(std::vector<int64_t> v, std::vector<int64_t> shape) { return at::tensor(v, at::kLong).reshape(shape); }
at::Tensor i64(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }
at::Tensor i32(std::vector<int32_t> v, std::vector<int64_t> shape) { return at::tensor(v, at::kInt).reshape(shape); }
at::Tensor u8(std::vector<int64_t> v, std::vector<int64_t> shape) { return at::tensor(v, at::kLong).to(at::kByte).reshape(shape); }
at::Tensor i8(std::vector<int64_t> v, std::vector<int64_t> shape) { return at::tensor(v, at::kLong).to(at::kChar).reshape(shape); }
at::Tensor bools(std::vector<int64_t> v) { return at::tensor(v, at::kLong).to(at::kBool); }
at::Tensor scalar_u8(int v) { return at::scalar_tensor(v, at::kLong).to(at::kByte); }
at::Tensor scalar_f(float v) { return at::scalar_tensor(v, at::kFloat); }
Attribute ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }
Attribute i(int64_t v) { return Attribute::of_int(v); }
Attribute f(float v) { return Attribute::of_float(v); }
Attribute s(const char* v) { return Attribute::of_string(v); }

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::kFloat);
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("NegativeLogLikelihoodLoss: reductions, weight, ignore_index (hand-computed)") {
  const at::Tensor logp = f32({-1, -2, -3, -0.5f, -1.5f, -2.5f}, {2, 3});
  const at::Tensor target = i64({2, 0});
  const at::Tensor weight = f32({0.2f, 0.3f, 0.5f});
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target}, {{"reduction", s("none")}}), f32({3, 0.5f})));
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target}), at::scalar_tensor(1.75, at::kFloat)));  // mean
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target, weight}, {{"reduction", s("none")}}), f32({1.5f, 0.1f})));
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target, weight}, {{"reduction", s("sum")}}),
              at::scalar_tensor(1.6, at::kFloat)));
  // mean with weights divides by the sum of the picked weights: 1.6 / 0.7.
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target, weight}), at::scalar_tensor(1.6 / 0.7, at::kFloat)));
  // ignore_index=0: the second sample drops out of the loss and the count.
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, target}, {{"ignore_index", i(0)}}), at::scalar_tensor(3.0, at::kFloat)));
  // A negative ignore_index may appear as a target (outside [0, C)).
  CHECK(close(run1("NegativeLogLikelihoodLoss", {logp, i64({-1, 0}), weight}, {{"ignore_index", i(-1)}, {"reduction", s("none")}}),
              f32({0, 0.1f})));
  // A target outside [0, C) that is not ignored is an error.
  CHECK_THROWS_AS(run1("NegativeLogLikelihoodLoss", {logp, i64({3, 0})}), InputError);
}

TEST_CASE("NegativeLogLikelihoodLoss on [N, C, d1, d2] matches at::nll_loss_nd") {
  const at::Tensor x = at::log_softmax(randn({2, 3, 2, 4}, 1), 1);
  const at::Tensor target = i64({0, 1, 2, 1, 1, 0, 2, 2, 1, 1, 0, 0, 2, 1, 0, 1}, {2, 2, 4});
  const at::Tensor weight = f32({0.3f, 1.2f, 0.7f});
  // ATen reduction codes: 0 none, 1 mean, 2 sum.
  const std::vector<std::pair<const char*, int64_t>> reductions = {{"none", 0}, {"mean", 1}, {"sum", 2}};
  for (auto [name, code] : reductions) {
    CAPTURE(name);
    CHECK(close(run1("NegativeLogLikelihoodLoss", {x, target, weight}, {{"reduction", s(name)}, {"ignore_index", i(1)}}),
                at::nll_loss_nd(x, target, weight, code, 1)));
    CHECK(close(run1("NegativeLogLikelihoodLoss", {x, target}, {{"reduction", s(name)}}),
                at::nll_loss_nd(x, target, {}, code, -100)));
  }
}

TEST_CASE("SoftmaxCrossEntropyLoss: loss and log_prob against ATen, hand value") {
  // Two equal scores: loss ln 2 for either label.
  auto r = test::run_kernel("SoftmaxCrossEntropyLoss", {f32({0, 0}, {1, 2}), i64({1})}, {{"reduction", s("none")}}, 2);
  CHECK(close(r[0], f32({std::log(2.0f)})));
  CHECK(close(r[1], f32({-std::log(2.0f), -std::log(2.0f)}, {1, 2})));

  const at::Tensor scores = randn({3, 4, 5}, 2);
  const at::Tensor labels = i64({0, 1, 2, 3, 3, 1, 1, 2, 0, 0, 3, 2, 1, 0, 2}, {3, 5});
  const at::Tensor weight = f32({0.5f, 1.0f, 2.0f, 0.1f});
  r = test::run_kernel("SoftmaxCrossEntropyLoss", {scores, labels, weight}, {{"ignore_index", i(2)}}, 2);
  const at::Tensor lp = at::log_softmax(scores, 1);
  CHECK(close(r[1], lp));
  CHECK(close(r[0], at::nll_loss_nd(lp, labels, weight, 1, 2)));
  r = test::run_kernel("SoftmaxCrossEntropyLoss", {scores, labels}, {{"reduction", s("sum")}}, 1);
  CHECK(close(r[0], at::nll_loss_nd(lp, labels, {}, 2, -100), 1e-4));
}

TEST_CASE("Trilu: upper/lower with k") {
  const at::Tensor x = at::arange(1, 13, at::kFloat).reshape({3, 4});
  CHECK(same(run1("Trilu", {x, i64({1})}), f32({0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}, {3, 4})));
  CHECK(same(run1("Trilu", {x, i64({-1})}, {{"upper", i(0)}}), f32({0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}, {3, 4})));
  CHECK(same(run1("Trilu", {x}, {{"upper", i(0)}}), f32({1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0}, {3, 4})));
}

TEST_CASE("CumSum: exclusive, reverse, axis input, integer type kept") {
  const at::Tensor x = f32({1, 2, 3, 4});
  CHECK(same(run1("CumSum", {x, i64({0})}), f32({1, 3, 6, 10})));
  CHECK(same(run1("CumSum", {x, i64({0})}, {{"exclusive", i(1)}}), f32({0, 1, 3, 6})));
  CHECK(same(run1("CumSum", {x, i64({0})}, {{"reverse", i(1)}}), f32({10, 9, 7, 4})));
  CHECK(same(run1("CumSum", {x, i64({0})}, {{"reverse", i(1)}, {"exclusive", i(1)}}), f32({9, 7, 4, 0})));
  const at::Tensor m = i32({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(same(run1("CumSum", {m, at::tensor({-1}, at::kInt)}), i32({1, 3, 6, 4, 9, 15}, {2, 3})));
  CHECK(same(run1("CumSum", {m, i64({0})}, {{"exclusive", i(1)}}), i32({0, 0, 0, 1, 2, 3}, {2, 3})));
}

TEST_CASE("OneHot: negative and out-of-range indices, axis, values type") {
  const at::Tensor idx = i64({0, -1, 5, 2});
  const at::Tensor values = f32({0, 5});
  CHECK(same(run1("OneHot", {idx, scalar_f(3), values}),
             f32({5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 5}, {4, 3})));
  CHECK(same(run1("OneHot", {idx, i64({3}), values}, {{"axis", i(0)}}),
             f32({5, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 5}, {3, 4})));
  const at::Tensor y = run1("OneHot", {i64({1, 0}, {2, 1}), i64({2}), i64({-1, 7})}, {{"axis", i(-2)}});
  CHECK(same(y, i64({-1, 7, 7, -1}, {2, 2, 1})));
}

TEST_CASE("EyeLike: k and dtype") {
  CHECK(same(run1("EyeLike", {at::zeros({3, 4})}, {{"k", i(1)}, {"dtype", i(6)}}),  // INT32
             i32({0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, {3, 4})));
  CHECK(same(run1("EyeLike", {at::zeros({3, 3}, at::kDouble)}, {{"k", i(-2)}}),
             at::tensor({0, 0, 0, 0, 0, 0, 1, 0, 0}, at::kDouble).reshape({3, 3})));
  CHECK(same(run1("EyeLike", {at::zeros({2, 2}, at::kLong)}), i64({1, 0, 0, 1}, {2, 2})));
}

TEST_CASE("DepthToSpace DCR/CRD and SpaceToDepth") {
  const at::Tensor x = at::arange(8, at::kFloat).reshape({1, 8, 1, 1});
  CHECK(same(run1("DepthToSpace", {x}, {{"blocksize", i(2)}}), f32({0, 2, 4, 6, 1, 3, 5, 7}, {1, 2, 2, 2})));
  CHECK(same(run1("DepthToSpace", {x}, {{"blocksize", i(2)}, {"mode", s("CRD")}}),
             f32({0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 2, 2})));
  const at::Tensor z = at::arange(8, at::kFloat).reshape({1, 2, 2, 2});
  CHECK(same(run1("SpaceToDepth", {z}, {{"blocksize", i(2)}}), f32({0, 4, 1, 5, 2, 6, 3, 7}, {1, 8, 1, 1})));
  // SpaceToDepth inverts DCR DepthToSpace.
  const at::Tensor r = randn({2, 8, 3, 3}, 3);
  CHECK(same(run1("SpaceToDepth", {run1("DepthToSpace", {r}, {{"blocksize", i(2)}})}, {{"blocksize", i(2)}}), r));
}

TEST_CASE("ScatterElements: axis, negative indices, reductions") {
  const at::Tensor data = at::zeros({3, 3});
  const at::Tensor idx = i64({1, 0, 2, 0, 2, 1}, {2, 3});
  const at::Tensor upd = f32({1, 1.1f, 1.2f, 2, 2.1f, 2.2f}, {2, 3});
  CHECK(same(run1("ScatterElements", {data, idx, upd}), f32({2, 1.1f, 0, 1, 0, 2.2f, 0, 2.1f, 1.2f}, {3, 3})));
  const at::Tensor row = f32({1, 2, 3, 4, 5}, {1, 5});
  CHECK(same(run1("ScatterElements", {row, i64({1, -2}, {1, 2}), f32({1.1f, 2.1f}, {1, 2})}, {{"axis", i(1)}}),
             f32({1, 1.1f, 3, 2.1f, 5}, {1, 5})));
  CHECK(close(run1("ScatterElements", {row, i64({1, 1}, {1, 2}), f32({1.1f, 2.1f}, {1, 2})}, {{"axis", i(1)}, {"reduction", s("add")}}),
              f32({1, 5.2f, 3, 4, 5}, {1, 5})));
  CHECK(close(run1("ScatterElements", {row, i64({1, 1}, {1, 2}), f32({1.1f, 2.1f}, {1, 2})}, {{"axis", i(1)}, {"reduction", s("mul")}}),
              f32({1, 4.62f, 3, 4, 5}, {1, 5})));
  CHECK(same(run1("Scatter", {row, i64({4}, {1, 1}), f32({9}, {1, 1})}, {{"axis", i(1)}}), f32({1, 2, 3, 4, 9}, {1, 5})));
  CHECK_THROWS_AS(run1("ScatterElements", {row, i64({5}, {1, 1}), f32({9}, {1, 1})}, {{"axis", i(1)}}), InputError);
}

TEST_CASE("ScatterND: element and slice updates, add/mul with duplicates") {
  const at::Tensor data = at::arange(1, 9, at::kFloat);
  CHECK(same(run1("ScatterND", {data, i64({4, 3, 1, 7}, {4, 1}), f32({9, 10, 11, 12})}),
             f32({1, 11, 3, 10, 9, 6, 7, 12})));
  CHECK(same(run1("ScatterND", {f32({1, 2, 3, 4}, {2, 2}), i64({-1}, {1, 1}), f32({7, 8}, {1, 2})}),
             f32({1, 2, 7, 8}, {2, 2})));
  CHECK(same(run1("ScatterND", {f32({1, 2, 3, 4}, {2, 2}), i64({0, 1, 1, 0}, {2, 2}), f32({7, 8})}),
             f32({1, 7, 8, 4}, {2, 2})));
  CHECK(same(run1("ScatterND", {f32({1, 2}), i64({0, 0}, {2, 1}), f32({5, 6})}, {{"reduction", s("add")}}), f32({12, 2})));
  CHECK(same(run1("ScatterND", {f32({1, 2}), i64({1, 1}, {2, 1}), f32({2, 3})}, {{"reduction", s("mul")}}), f32({1, 12})));
}

TEST_CASE("GatherND: elements, slices, batch_dims, negative indices") {
  const at::Tensor d = i32({0, 1, 2, 3}, {2, 2});
  CHECK(same(run1("GatherND", {d, i64({0, 0, 1, 1}, {2, 2})}), at::tensor({0, 3}, at::kInt)));
  CHECK(same(run1("GatherND", {d, i64({1, 0}, {2, 1})}), i32({2, 3, 0, 1}, {2, 2})));
  CHECK(same(run1("GatherND", {d, i64({-1, 0}, {2, 1})}), i32({2, 3, 0, 1}, {2, 2})));
  const at::Tensor d3 = at::arange(8, at::kFloat).reshape({2, 2, 2});
  CHECK(same(run1("GatherND", {d3, i64({0, 1, 1, 0}, {2, 1, 2})}), f32({2, 3, 4, 5}, {2, 1, 2})));
  CHECK(same(run1("GatherND", {d3, i64({1, 0}, {2, 1})}, {{"batch_dims", i(1)}}), f32({2, 3, 4, 5}, {2, 2})));
}

TEST_CASE("Compress: axis, negative axis, flattened") {
  const at::Tensor x = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(same(run1("Compress", {x, bools({0, 1, 1})}, {{"axis", i(0)}}), f32({3, 4, 5, 6}, {2, 2})));
  CHECK(same(run1("Compress", {x, bools({0, 1})}, {{"axis", i(-1)}}), f32({2, 4, 6}, {3, 1})));
  CHECK(same(run1("Compress", {x, bools({0, 1, 0, 0, 1})}), f32({2, 5})));
}

TEST_CASE("Unique: sorted and first-occurrence order, with and without axis") {
  const at::Tensor x = f32({2, 1, 1, 3, 4, 3});
  auto r = test::run_kernel("Unique", {x}, {{"sorted", i(0)}}, 4);
  CHECK(same(r[0], f32({2, 1, 3, 4})));
  CHECK(same(r[1], i64({0, 1, 3, 4})));
  CHECK(same(r[2], i64({0, 1, 1, 2, 3, 2})));
  CHECK(same(r[3], i64({1, 2, 2, 1})));
  r = test::run_kernel("Unique", {x}, {}, 4);
  CHECK(same(r[0], f32({1, 2, 3, 4})));
  CHECK(same(r[1], i64({1, 0, 3, 4})));
  CHECK(same(r[2], i64({1, 0, 0, 2, 3, 2})));
  CHECK(same(r[3], i64({2, 1, 2, 1})));
  r = test::run_kernel("Unique", {f32({2, 3, 1, 0, 2, 3}, {3, 2})}, {{"axis", i(0)}, {"sorted", i(0)}}, 4);
  CHECK(same(r[0], f32({2, 3, 1, 0}, {2, 2})));
  CHECK(same(r[1], i64({0, 1})));
  CHECK(same(r[2], i64({0, 1, 0})));
  CHECK(same(r[3], i64({2, 1})));
  r = test::run_kernel("Unique", {f32({1, 0, 1, 0, 0, 0}, {2, 3})}, {{"axis", i(-1)}}, 4);
  CHECK(same(r[0], f32({0, 1, 0, 0}, {2, 2})));  // columns [0,0] < [1,0]
  CHECK(same(r[1], i64({1, 0})));
  CHECK(same(r[2], i64({1, 0, 1})));
  CHECK(same(r[3], i64({1, 2})));
}

TEST_CASE("MaxUnpool: default shape and output_shape") {
  const at::Tensor x = f32({5, 6, 7, 8}, {1, 1, 2, 2});
  const at::Tensor idx = i64({5, 7, 13, 15}, {1, 1, 2, 2});
  const std::map<std::string, Attribute> attrs = {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}};
  CHECK(same(run1("MaxUnpool", {x, idx}, attrs), f32({0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8}, {1, 1, 4, 4})));
  at::Tensor want = at::zeros({25});
  want[5] = 5, want[7] = 6, want[13] = 7, want[15] = 8;
  CHECK(same(run1("MaxUnpool", {x, idx, i64({1, 1, 5, 5})}, attrs), want.reshape({1, 1, 5, 5})));
  // pads shrink the default shape: (2 - 1) * 2 + 2 - 1 - 1 = 2.
  auto padded = attrs;
  padded["pads"] = ints({1, 1, 1, 1});
  CHECK(same(run1("MaxUnpool", {x, i64({0, 1, 2, 3}, {1, 1, 2, 2})}, padded), f32({5, 6, 7, 8}, {1, 1, 2, 2})));
}

TEST_CASE("Det, Asinh, Acosh, Atanh") {
  CHECK(close(run1("Det", {f32({1, 2, 3, 4}, {2, 2})}), scalar_f(-2)));
  CHECK(close(run1("Det", {f32({2, 0, 0, 0, 3, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 10}, {2, 3, 3})}), f32({24, -3}), 1e-4));
  const std::vector<float> v = {-0.9f, -0.2f, 0.0f, 0.5f, 0.8f};
  std::vector<float> as, at_;
  for (float x : v) as.push_back(std::asinh(x)), at_.push_back(std::atanh(x));
  CHECK(close(run1("Asinh", {f32(v)}), f32(as)));
  CHECK(close(run1("Atanh", {f32(v)}), f32(at_)));
  CHECK(close(run1("Acosh", {f32({1, 2, 10})}), f32({0, std::acosh(2.0f), std::acosh(10.0f)})));
}

TEST_CASE("IsInf: detect_positive / detect_negative") {
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor x = f32({-inf, -1, 0, inf, std::nanf("")});
  CHECK(same(run1("IsInf", {x}), bools({1, 0, 0, 1, 0})));
  CHECK(same(run1("IsInf", {x}, {{"detect_negative", i(0)}}), bools({0, 0, 0, 1, 0})));
  CHECK(same(run1("IsInf", {x}, {{"detect_positive", i(0)}}), bools({1, 0, 0, 0, 0})));
}

TEST_CASE("Shrink: lambd and bias") {
  const at::Tensor x = f32({-2, -1, 0, 1, 2});
  CHECK(same(run1("Shrink", {x}, {{"lambd", f(1.5f)}, {"bias", f(0.5f)}}), f32({-1.5f, 0, 0, 0, 1.5f})));
  CHECK(same(run1("Shrink", {x}), f32({-2, -1, 0, 1, 2})));
  CHECK(same(run1("Shrink", {x}, {{"lambd", f(1.0f)}}), f32({-2, 0, 0, 0, 2})));
}

TEST_CASE("DFT: real and complex signals against the defining sum, dft_length padding, onesided, inverse round trip") {
  const at::Tensor x = randn({2, 6, 1}, 41);   // two real signals of 6 samples
  const int64_t N = 8;                          // zero-padded to 8
  at::Tensor want = at::zeros({2, N / 2 + 1, 2}, at::kDouble);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k <= N / 2; ++k)
      for (int64_t n = 0; n < 6; ++n) {
        const double angle = -2 * M_PI * double(k * n) / double(N), v = x[b][n][0].item<double>();
        want[b][k][0] += v * std::cos(angle);
        want[b][k][1] += v * std::sin(angle);
      }
  const at::Tensor got = run1("DFT", {x, at::scalar_tensor(N, at::kLong)}, {{"axis", i(1)}, {"onesided", i(1)}});
  CHECK(got.sizes() == at::IntArrayRef({2, 5, 2}));
  CHECK(close(got, want.to(at::kFloat)));
  // A complex signal along axis 2 (of [1, 3, 5, 2]), then back: the inverse divides by N.
  const at::Tensor zc = randn({1, 3, 5, 2}, 42);
  const at::Tensor spectrum = run1("DFT", {zc}, {{"axis", i(2)}});
  CHECK(close(run1("DFT", {spectrum}, {{"axis", i(2)}, {"inverse", i(1)}}), zc));
  CHECK_THROWS_AS(run1("DFT", {randn({4, 3}, 1)}, {{"axis", i(0)}}), InputError);   // last dim 3: neither real nor complex
}

TEST_CASE("STFT: frames times the window, each transformed; frame count and onesided bins") {
  const at::Tensor signal = randn({1, 20, 1}, 43);
  const int64_t step = 4, length = 8;
  const at::Tensor window = at::hann_window(length, at::kFloat);
  const at::Tensor got = run1("STFT", {signal, at::scalar_tensor(step, at::kLong), window});
  const int64_t frames = 1 + (20 - length) / step;   // 4
  REQUIRE(got.sizes() == at::IntArrayRef({1, frames, length / 2 + 1, 2}));
  for (int64_t f = 0; f < frames; ++f) {
    at::Tensor frame = signal.slice(1, f * step, f * step + length) * window.reshape({1, length, 1});   // [1, 8, 1]
    CHECK(close(got.select(1, f), run1("DFT", {frame, at::scalar_tensor(length, at::kLong)}, {{"axis", i(1)}, {"onesided", i(1)}})));
  }
  // frame_length without a window; two-sided.
  const at::Tensor two = run1("STFT", {signal, at::scalar_tensor(step, at::kLong), at::Tensor(), at::scalar_tensor(length, at::kLong)},
                              {{"onesided", i(0)}});
  CHECK(two.sizes() == at::IntArrayRef({1, frames, length, 2}));
  CHECK_THROWS_AS(run1("STFT", {signal, at::scalar_tensor(step, at::kLong), window, at::scalar_tensor(6, at::kLong)}), InputError);
}

TEST_CASE("MelWeightMatrix: ONNX's worked example (8 mel bins, 16-point DFT, 8192 Hz)") {
  const at::Tensor got = run1("MelWeightMatrix", {at::scalar_tensor(8, at::kInt), at::scalar_tensor(16, at::kInt), at::scalar_tensor(8192, at::kInt),
                                                  scalar_f(0), scalar_f(4096)});
  // The expected matrix of ONNX's MelWeightMatrix test: ones at (0,0) (0,1) (1,2) (1,3) (2,4)
  // (3,5) (4,6) (5,7), zeros elsewhere, rows 6-8 empty.
  at::Tensor want = at::zeros({9, 8});
  for (auto [r, col] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}}) want[r][col] = 1;
  CHECK(same(got, want));
  CHECK_THROWS_AS(run1("MelWeightMatrix", {at::scalar_tensor(0, at::kInt), at::scalar_tensor(16, at::kInt), at::scalar_tensor(8192, at::kInt),
                                           scalar_f(0), scalar_f(4096)}),
                  InputError);   // no mel bins
  CHECK_THROWS_AS(run1("MelWeightMatrix", {at::scalar_tensor(8, at::kInt), at::scalar_tensor(16, at::kInt), at::scalar_tensor(8192, at::kInt),
                                           scalar_f(4096), scalar_f(100)}),
                  InputError);   // upper edge below the lower
}

TEST_CASE("BitShift on uint8: LEFT and RIGHT") {
  const at::Tensor x = u8({16, 4, 1}, {3});
  const at::Tensor y = u8({1, 2, 3}, {3});
  CHECK(same(run1("BitShift", {x, y}, {{"direction", s("RIGHT")}}), u8({8, 1, 0}, {3})));
  CHECK(same(run1("BitShift", {x, y}, {{"direction", s("LEFT")}}), u8({32, 16, 8}, {3})));
}

TEST_CASE("ReduceLogSum: axes attribute and input, keepdims, noop_with_empty_axes") {
  const at::Tensor x = f32({1, 2, 3, 4}, {2, 2});
  CHECK(close(run1("ReduceLogSum", {x}, {{"axes", ints({1})}, {"keepdims", i(0)}}), f32({std::log(3.0f), std::log(7.0f)})));
  CHECK(close(run1("ReduceLogSum", {x, i64({-2})}), f32({std::log(4.0f), std::log(6.0f)}, {1, 2})));
  CHECK(close(run1("ReduceLogSum", {x}), f32({std::log(10.0f)}, {1, 1})));
  CHECK(same(run1("ReduceLogSum", {x, i64({})}, {{"noop_with_empty_axes", i(1)}}), x));
}

TEST_CASE("MeanVarianceNormalization against ATen mean/var") {
  const at::Tensor x = randn({2, 3, 2, 2}, 4);
  auto ref = [&](std::vector<int64_t> axes) {
    const at::Tensor m = x.mean(axes, true);
    return (x - m) / (at::sqrt(x.var(axes, /*unbiased=*/false, true)) + 1e-9);
  };
  CHECK(close(run1("MeanVarianceNormalization", {x}), ref({0, 2, 3})));
  CHECK(close(run1("MeanVarianceNormalization", {x}, {{"axes", ints({1, -1})}}), ref({1, 3})));
}

TEST_CASE("DynamicQuantizeLinear: ONNX's example values") {
  auto r = test::run_kernel("DynamicQuantizeLinear", {f32({0, 2, -3, -2.5f, 1.34f, 0.5f})}, {}, 3);
  CHECK(same(r[0], u8({153, 255, 0, 26, 221, 179}, {6})));
  CHECK(close(r[1], scalar_f(5.0f / 255.0f), 1e-9));
  CHECK(same(r[2], scalar_u8(153)));
  // All negative: the range still includes 0, so the zero point is 255.
  r = test::run_kernel("DynamicQuantizeLinear", {f32({-1, -4})}, {}, 3);
  CHECK(same(r[0], u8({191, 0}, {2})));
  CHECK(same(r[2], scalar_u8(255)));
}

TEST_CASE("MatMulInteger: zero points per tensor and per row/column") {
  const at::Tensor a = u8({11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0}, {4, 3});
  const at::Tensor b = u8({1, 4, 2, 5, 3, 6}, {3, 2});
  CHECK(same(run1("MatMulInteger", {a, b, scalar_u8(12), scalar_u8(0)}),
             i32({-38, -83, -44, -98, -50, -113, -56, -128}, {4, 2})));
  // int8 with a per-row A zero point and a per-column B zero point, against an int64 matmul.
  const at::Tensor a8 = i8({-128, 127, 5, -7, 0, 100}, {2, 3});
  const at::Tensor b8 = i8({3, -4, 127, -128, 9, 2}, {3, 2});
  const at::Tensor az = i8({1, -2}, {2}), bz = i8({-3, 4}, {2});
  const at::Tensor want = at::matmul(a8.to(at::kLong) - az.to(at::kLong).reshape({2, 1}), b8.to(at::kLong) - bz.to(at::kLong));
  CHECK(same(run1("MatMulInteger", {a8, b8, az, bz}), want.to(at::kInt)));
}

TEST_CASE("ConvInteger: zero-point padding, per-channel weight zero point") {
  const at::Tensor x = u8({2, 3, 4, 5, 6, 7, 8, 9, 10}, {1, 1, 3, 3});
  const at::Tensor w = u8({1, 1, 1, 1}, {1, 1, 2, 2});
  CHECK(same(run1("ConvInteger", {x, w, scalar_u8(1)}), i32({12, 16, 24, 28}, {1, 1, 2, 2})));
  CHECK(same(run1("ConvInteger", {x, w, scalar_u8(1)}, {{"pads", ints({1, 1, 1, 1})}}),
             i32({1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}, {1, 1, 4, 4})));
  // Two output channels, weight zero points [1, 0]: channel 0 sees w - 1 = 0 everywhere.
  const at::Tensor w2 = u8({1, 1, 1, 1, 1, 1, 1, 1}, {2, 1, 2, 2});
  CHECK(same(run1("ConvInteger", {x, w2, scalar_u8(1), u8({1, 0}, {2})}, {{"strides", ints({1, 1})}}),
             i32({0, 0, 0, 0, 12, 16, 24, 28}, {1, 2, 2, 2})));
}

TEST_CASE("QLinearMatMul: ONNX's example") {
  const at::Tensor a = u8({208, 236, 0, 238, 3, 214, 255, 29}, {2, 4});
  const at::Tensor b = u8({152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247}, {4, 3});
  const at::Tensor y = run1("QLinearMatMul", {a, f32({0.0066f}), u8({113}, {1}), b, f32({0.00705f}), u8({114}, {1}),
                                             f32({0.0107f}), u8({118}, {1})});
  CHECK(same(y, u8({168, 115, 255, 1, 66, 151}, {2, 3})));
}

TEST_CASE("QLinearConv: bias, half-to-even rounding, saturation") {
  // acc = (x - 10) * 2 + 4 = [6, 10, 4, 8]; times 0.5 * 0.25 / 0.5 = 0.25: [1.5, 2.5, 1, 2]
  // -> half to even [2, 2, 1, 2] + 5.
  const at::Tensor x = u8({11, 13, 10, 12}, {1, 1, 2, 2});
  const at::Tensor w = i8({2}, {1, 1, 1, 1});
  auto q = [&](int y_zp) {
    return run1("QLinearConv", {x, scalar_f(0.5f), scalar_u8(10), w, scalar_f(0.25f), at::scalar_tensor(0, at::kLong).to(at::kChar),
                                scalar_f(0.5f), scalar_u8(y_zp), at::tensor({4}, at::kInt)});
  };
  CHECK(same(q(5), u8({7, 7, 6, 7}, {1, 1, 2, 2})));
  CHECK(same(q(254), u8({255, 255, 255, 255}, {1, 1, 2, 2})));
  // int8 output with padding: the padded input equals x_zero_point, so border sums see 0.
  const at::Tensor ones = i8({1, 1, 1, 1}, {1, 1, 2, 2});
  const at::Tensor y = run1("QLinearConv", {x, scalar_f(1.0f), scalar_u8(10), ones, scalar_f(1.0f), i8({0}, {1}), scalar_f(1.0f),
                                            i8({-128}, {1})},
                            {{"pads", ints({1, 1, 0, 0})}});
  CHECK(same(y, i8({-127, -124, -127, -122}, {1, 1, 2, 2})));
}

TEST_CASE("GridSample: bilinear/nearest/bicubic, align_corners, zeros/border padding (hand-computed)") {
  const at::Tensor x = f32({1, 2, 3, 4}, {1, 1, 2, 2});
  // grid[..., 0] is x (width), grid[..., 1] is y (height).
  const at::Tensor g = f32({-1, -1, 1, 1, 0, 0, 1, -1}, {1, 1, 4, 2});
  CHECK(close(run1("GridSample", {x, g}, {{"align_corners", i(1)}}), f32({1, 4, 2.5f, 2}, {1, 1, 1, 4})));
  // align_corners=0: (-1, -1) is the outer corner of pixel (0, 0), a quarter of it inside.
  const at::Tensor corner = f32({-1, -1, 0, 0}, {1, 1, 2, 2});
  CHECK(close(run1("GridSample", {x, corner}), f32({0.25f, 2.5f}, {1, 1, 1, 2})));
  CHECK(close(run1("GridSample", {x, corner}, {{"padding_mode", s("border")}}), f32({1, 2.5f}, {1, 1, 1, 2})));
  CHECK(close(run1("GridSample", {x, f32({0.5f, -1, -0.6f, 1}, {1, 1, 2, 2})}, {{"mode", s("nearest")}, {"align_corners", i(1)}}),
              f32({2, 3}, {1, 1, 1, 2})));
  // Bicubic at a pixel centre reproduces the pixel.
  CHECK(close(run1("GridSample", {x, f32({-1, -1, 1, 1}, {1, 1, 2, 2})}, {{"mode", s("bicubic")}, {"align_corners", i(1)}}),
              f32({1, 4}, {1, 1, 1, 2})));
}

TEST_CASE("RoiAlign: avg/max, coordinate modes, spatial_scale, batch index (linear image: exact)") {
  // X = 4y + x is linear, so every bilinear sample is exact and a bin's average is the average
  // of its sample points.
  const at::Tensor plane = at::arange(16, at::kFloat).reshape({1, 1, 4, 4});
  const at::Tensor x = at::cat({plane, plane + 100});
  const std::map<std::string, Attribute> base = {{"sampling_ratio", i(2)}};
  // half_pixel: samples at y, x in {0.5, 2.5}: (2.5 + 4.5 + 10.5 + 12.5) / 4.
  CHECK(close(run1("RoiAlign", {x, f32({0, 0, 4, 4}, {1, 4}), i64({0})}, base), f32({7.5f}, {1, 1, 1, 1})));
  auto scaled = base;
  scaled["spatial_scale"] = f(0.5f);
  CHECK(close(run1("RoiAlign", {x, f32({0, 0, 8, 8, 0, 0, 8, 8}, {2, 4}), i64({0, 1})}, scaled),
              f32({7.5f, 107.5f}, {2, 1, 1, 1})));
  // output_half_pixel (opset 10's rule): samples at {1, 3}: (5 + 7 + 13 + 15) / 4; max: 15.
  auto legacy = base;
  legacy["coordinate_transformation_mode"] = s("output_half_pixel");
  CHECK(close(run1("RoiAlign", {x, f32({0, 0, 4, 4}, {1, 4}), i64({0})}, legacy), f32({10}, {1, 1, 1, 1})));
  legacy["mode"] = s("max");
  CHECK(close(run1("RoiAlign", {x, f32({0, 0, 4, 4}, {1, 4}), i64({0})}, legacy), f32({15}, {1, 1, 1, 1})));
  // 2x2 bins, one sample each (sampling_ratio 1) at the bin centres y, x in {0.5, 2.5}.
  CHECK(close(run1("RoiAlign", {x, f32({0, 0, 4, 4}, {1, 4}), i64({0})},
                   {{"output_height", i(2)}, {"output_width", i(2)}, {"sampling_ratio", i(1)}}),
              f32({2.5f, 4.5f, 10.5f, 12.5f}, {1, 1, 2, 2})));
}

TEST_CASE("NonMaxSuppression: IoU suppression, score threshold, limit, center_point_box") {
  const at::Tensor boxes = f32({0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f, 0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101},
                               {1, 6, 4});
  const at::Tensor scores = f32({0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f}, {1, 1, 6});
  auto nms = [&](const at::Tensor& b, int64_t max_out, float score, std::map<std::string, Attribute> attrs = {}) {
    return run1("NonMaxSuppression", {b, scores, i64({max_out}), f32({0.5f}), f32({score})}, std::move(attrs));
  };
  CHECK(same(nms(boxes, 3, 0.0f), i64({0, 0, 3, 0, 0, 0, 0, 0, 5}, {3, 3})));
  CHECK(same(nms(boxes, 3, 0.4f), i64({0, 0, 3, 0, 0, 0}, {2, 3})));
  CHECK(same(nms(boxes, 1, 0.0f), i64({0, 0, 3}, {1, 3})));
  const at::Tensor centred = f32({0.5f, 0.5f, 1, 1, 0.5f, 0.6f, 1, 1, 0.5f, 0.4f, 1, 1, 0.5f, 10.5f, 1, 1, 0.5f, 10.6f, 1, 1,
                                  0.5f, 100.5f, 1, 1},
                                 {1, 6, 4});
  CHECK(same(nms(centred, 3, 0.0f, {{"center_point_box", i(1)}}), i64({0, 0, 3, 0, 0, 0, 0, 0, 5}, {3, 3})));
  // No max_output_boxes_per_class: nothing is selected.
  CHECK(same(run1("NonMaxSuppression", {boxes, scores}), at::zeros({0, 3}, at::kLong)));
}

}  // TEST_SUITE
