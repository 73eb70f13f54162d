// The compress planner: plain INT8 when it fits, shrinking (prune + distil) to a MACs fraction
// when a budget demands it, and an honest "infeasible" when nothing fits.
#include <doctest/doctest.h>

#include "core/onnx_import.h"
#include "core/targets.h"
#include "passes/fold_constants.h"
#include "compress/planner.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;

TEST_SUITE("planner") {

TEST_CASE("without budgets plain INT8 is planned; an impossible budget is reported infeasible") {
  Model m = residual_net();
  Plan p = plan_compression(m, find_target("qcs2290"), {});
  CHECK(p.pipeline == "quantize{calib=percentile}");
  CHECK(p.feasible);
  CHECK(p.candidates.size() == 1);
  Budgets tiny;
  tiny.max_latency_ms = 1e-9;
  Plan q = plan_compression(m, find_target("qcs2290"), tiny);
  CHECK_FALSE(q.feasible);
  CHECK(q.candidates.size() > 1);
  CHECK(q.reason.find("no candidate fits") != std::string::npos);
  // No labels: pruning, recovered by a label-free fine-tune from the original (class scores [N, 5]).
  CHECK(q.candidates.back().pipeline.find("prune{target-macs=") == 0);
  CHECK(q.candidates.back().pipeline.find(",finetune{epochs=3},") != std::string::npos);
  // A probability map is recovered label-free too, by matching the original's outputs.
  Model map_net = m;
  map_net.graph.outputs[0].shape = std::vector<Dim>{Dim{1, ""}, Dim{1, ""}, Dim{-1, "H"}, Dim{-1, "W"}};
  Plan map_plan = plan_compression(map_net, find_target("qcs2290"), tiny);
  CHECK(map_plan.candidates.size() > 1);
  CHECK(map_plan.candidates.back().pipeline.find(",finetune{epochs=3},") != std::string::npos);
  // Integer outputs only (indices): nothing to match, so shrinking is planned only when allowed.
  Model index_net = map_net;
  index_net.graph.outputs[0].elem_type = 7;   // INT64
  Plan none = plan_compression(index_net, find_target("qcs2290"), tiny);
  CHECK(none.candidates.size() == 1);
  CHECK(none.reason.find("--allow-unrecovered") != std::string::npos);
  PlanOptions allow;
  allow.allow_unrecovered = true;
  Plan pruned = plan_compression(index_net, find_target("qcs2290"), tiny, allow);
  CHECK(pruned.candidates.size() > 1);
  CHECK(pruned.candidates.back().pipeline.find("finetune") == std::string::npos);
}

}  // TEST_SUITE

TEST_SUITE("conformance") {

TEST_CASE("light ResNet-50 at 30 frames/s: qcs2290 must shrink, jetson-agx-orin stays plain INT8") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  Model m = import_onnx(root + "/light/light_resnet50.onnx");
  Budgets b;
  b.max_latency_ms = 33;
  PlanOptions o;
  o.can_train = true;
  Plan small = plan_compression(m, find_target("qcs2290"), b, o);
  CAPTURE(small.reason);
  CHECK(small.feasible);
  CHECK(small.candidates.size() >= 2);
  CHECK_FALSE(small.candidates.front().fits);                  // plain INT8 misses the budget
  CHECK(small.candidates.front().why.find("latency") != std::string::npos);
  CHECK(small.pipeline.find("distill{target-macs=") == 0);     // prune-then-distil, then INT8
  CHECK(small.pipeline.find("quantize") != std::string::npos);
  CHECK(small.candidates.back().latency_ms <= 33);
  Plan big = plan_compression(m, find_target("jetson-agx-orin"), b, o);
  CHECK(big.pipeline == "quantize{calib=percentile}");
  CHECK(big.feasible);
}

}  // TEST_SUITE
