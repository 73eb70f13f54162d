// Kernels of core/ops/extra.cpp (losses), one node at a time against hand-computed values (mostly
// the ONNX spec's own examples) or an independent ATen computation. Float checks use 1e-5 absolute
// unless noted; integer and bool outputs must match exactly (tolerance 0).
#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/executor.h"
#include "core/ir.h"

using namespace edgepack;

namespace {

constexpr double kTol = 1e-5;

std::vector<at::Tensor> run(const std::string& op, const std::vector<at::Tensor>& inputs,
                            std::map<std::string, Attribute> attrs = {}, size_t outputs = 1, int64_t opset = 17) {
  Node node;
  node.op_type = op;
  node.name = "n";
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i].defined() ? fmt::format("x{}", i) : "");
  for (size_t o = 0; o < outputs; ++o) node.outputs.push_back(fmt::format("y{}", o));
  node.attrs = std::move(attrs);
  auto result = kernels().at(op)(KernelContext{node, inputs, opset});
  REQUIRE(result.size() >= outputs);
  return result;
}

at::Tensor run1(const std::string& op, const std::vector<at::Tensor>& inputs, std::map<std::string, Attribute> attrs = {}) {
  return run(op, inputs, std::move(attrs))[0];
}

// Same shape and max |a - b| <= tol (compared in double).
bool close(const at::Tensor& a, const at::Tensor& b, double tol = kTol) {
  if (a.sizes() != b.sizes()) {
    MESSAGE(fmt::format("shape [{}] vs [{}]", fmt::join(a.sizes(), ","), fmt::join(b.sizes(), ",")));
    return false;
  }
  if (a.numel() == 0) return true;
  const double diff = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  if (diff > tol) MESSAGE(fmt::format("max abs diff {} > {}", diff, tol));
  return diff <= tol;
}

at::Tensor f32(std::vector<float> v, std::vector<int64_t> shape) { return at::tensor(v, at::kFloat).reshape(shape); }
at::Tensor f32(std::vector<float> v) { return at::tensor(v, at::kFloat); }
at::Tensor i64(std::vector<int64_t> v, std::vector<int64_t> shape) { return at::tensor(v, at::kLong).reshape(shape); }
at::Tensor i64(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }
Attribute i(int64_t v) { return Attribute::of_int(v); }
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
  auto r = run("SoftmaxCrossEntropyLoss", {f32({0, 0}, {1, 2}), i64({1})}, {{"reduction", s("none")}}, 2);
  CHECK(close(r[0], f32({std::log(2.0f)})));
  CHECK(close(r[1], f32({-std::log(2.0f), -std::log(2.0f)}, {1, 2})));

  const at::Tensor scores = randn({3, 4, 5}, 2);
  const at::Tensor labels = i64({0, 1, 2, 3, 3, 1, 1, 2, 0, 0, 3, 2, 1, 0, 2}, {3, 5});
  const at::Tensor weight = f32({0.5f, 1.0f, 2.0f, 0.1f});
  r = run("SoftmaxCrossEntropyLoss", {scores, labels, weight}, {{"ignore_index", i(2)}}, 2);
  const at::Tensor lp = at::log_softmax(scores, 1);
  CHECK(close(r[1], lp));
  CHECK(close(r[0], at::nll_loss_nd(lp, labels, weight, 1, 2)));
  r = run("SoftmaxCrossEntropyLoss", {scores, labels}, {{"reduction", s("sum")}}, 1);
  CHECK(close(r[0], at::nll_loss_nd(lp, labels, {}, 2, -100), 1e-4));
}

}  // TEST_SUITE
