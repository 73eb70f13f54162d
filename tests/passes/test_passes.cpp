// Pass registry, pipeline grammar, and the graph passes fold-constants and fold-bn.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/executor.h"
#include "passes/fold_bn.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// tiny_conv_model with a BatchNormalization between Conv and Relu, random statistics.
Model conv_bn_model() {
  Model m = tiny_conv_model(3);
  Graph& g = m.graph;
  g.nodes[0].outputs[0] = "C";
  Node bn;
  bn.name = "bn";
  bn.op_type = "BatchNormalization";
  bn.inputs = {"C", "gamma", "beta", "mean", "var"};
  bn.outputs = {"H"};
  bn.attrs["epsilon"] = Attribute::of_float(1e-3f);
  g.initializers["gamma"] = at::rand({4}) + 0.5;
  g.initializers["beta"] = at::randn({4});
  g.initializers["mean"] = at::randn({4});
  g.initializers["var"] = at::rand({4}) + 0.1;
  g.nodes.insert(g.nodes.begin() + 1, bn);
  return m;
}

// Runs fold-bn on `m` and checks that it folded exactly one BatchNormalization into the one
// `conv_op`, and that the outputs on `x` stay within atol 1e-5; `m` is left folded for the caller.
void check_one_bn_folded(Model& m, const at::Tensor& x, const std::string& conv_op) {
  const at::Tensor before = Executor(m).run(std::vector<at::Tensor>{x}).at(0);
  PassContext ctx;
  auto reports = run_pipeline(m, parse_pipeline("fold-bn"), ctx);
  CHECK(count_ops(m, "BatchNormalization") == 0);
  CHECK(count_ops(m, conv_op) == 1);
  CHECK(reports.at(0).result.stats.at("folded_batchnorms") == 1);
  const at::Tensor after = Executor(m).run(std::vector<at::Tensor>{x}).at(0);
  CHECK(all_close(after, before, 1e-4, 1e-5));
}

}  // namespace

TEST_SUITE("passes") {

TEST_CASE("pipelines print canonically and round trip") {
  Pipeline p = parse_pipeline("  fold-constants , fold-bn ");
  CHECK(p.size() == 2);
  CHECK(print_pipeline(p) == "fold-constants,fold-bn");
  CHECK((parse_pipeline(print_pipeline(p)) == p));
}

TEST_CASE("pipeline errors name the column and what exists") {
  CHECK_THROWS_WITH_AS(parse_pipeline("fold-bn,frobnicate"),
                       doctest::Contains("pipeline column 9: unknown pass 'frobnicate' (known: fold-constants, fold-bn"), InputError);
  CHECK_THROWS_WITH_AS(parse_pipeline("fold-bn{ratio=2}"), doctest::Contains("pipeline column 9: pass 'fold-bn' has no option 'ratio'"),
                       InputError);
  CHECK_THROWS_WITH_AS(parse_pipeline("fold-bn,"), doctest::Contains("pipeline column 9: expected a pass name"), InputError);
  CHECK_THROWS_WITH_AS(parse_pipeline("fold-bn fold-bn"), doctest::Contains("column 9: expected ','"), InputError);
  CHECK_THROWS_WITH_AS(parse_pipeline(""), doctest::Contains("empty"), InputError);
}

TEST_CASE("fold-bn removes BatchNormalization and keeps outputs (atol 1e-5)") {
  Model m = conv_bn_model();
  check_one_bn_folded(m, at::randn({1, 3, 8, 8}), "Conv");
  CHECK(m.graph.initializers.count("gamma") == 0);
}

TEST_CASE("fold-bn folds BatchNormalization into ConvTranspose, grouped too (atol 1e-5)") {
  for (int64_t group : {1, 2}) {
    CAPTURE(group);
    Net net(4, 7);
    // A decoder's upsampling + BN (the real detector's head): ConvTranspose -> BN -> Relu.
    Model m = net.output(net.op("Relu", {net.bn(net.conv_transpose("X", 6, "up", group), "bn")}, "relu"));
    check_one_bn_folded(m, at::randn({2, 4, 8, 8}), "ConvTranspose");
  }
}

TEST_CASE("fold-bn leaves a BatchNormalization whose Conv output has other readers") {
  Model m = conv_bn_model();
  m.graph.outputs.push_back(m.graph.outputs[0]);
  m.graph.outputs.back().name = "C";
  PassContext ctx;
  run_pipeline(m, parse_pipeline("fold-bn"), ctx);
  CHECK(count_ops(m, "BatchNormalization") == 1);
}

TEST_CASE("fold-constants turns ConstantOfShape weights into initializers (outputs identical)") {
  Model m = tiny_conv_model(5);
  Graph& g = m.graph;
  g.initializers["W_shape"] = at::tensor({4, 3, 3, 3}, at::kLong);
  g.initializers.erase("W");
  Node c;
  c.op_type = "ConstantOfShape";
  c.name = "make_w";
  c.inputs = {"W_shape"};
  c.outputs = {"W"};
  c.attrs["value"] = Attribute::of_tensor(at::full({1}, 0.02f));
  g.nodes.insert(g.nodes.begin(), c);
  at::Tensor x = at::randn({1, 3, 8, 8});
  at::Tensor before = Executor(m).run(std::vector<at::Tensor>{x}).at(0);
  PassContext ctx;
  auto r = run_pipeline(m, parse_pipeline("fold-constants"), ctx);
  CHECK(count_ops(m, "ConstantOfShape") == 0);
  CHECK(m.graph.initializers.count("W") == 1);
  CHECK(m.graph.initializers.count("W_shape") == 0);
  CHECK(r[0].result.stats.at("folded_nodes") == 1);
  CHECK(Executor(m).run(std::vector<at::Tensor>{x}).at(0).equal(before));
}

}  // TEST_SUITE
