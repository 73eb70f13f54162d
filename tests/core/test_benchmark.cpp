// core/benchmark: synthetic feeds, batch binding, the statistics and the run-memory measurement.
#include <doctest/doctest.h>

#include "core/benchmark.h"
#include "core/error.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// X [N, 3, S, S] -> Conv (64 filters, 3x3, pad 1) -> Y [N, 64, S, S].
Model wide_conv(int64_t size) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(float_value("X", {Dim{-1, "N"}, Dim{3, ""}, Dim{size, ""}, Dim{size, ""}}));
  m.graph.outputs.push_back(float_value("Y", {Dim{-1, "N"}, Dim{64, ""}, Dim{size, ""}, Dim{size, ""}}));
  m.graph.initializers["W"] = at::randn({64, 3, 3, 3});
  Node conv = make_node("Conv", {"X", "W"}, "Y");
  conv.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  m.graph.nodes.push_back(conv);
  return m;
}

}  // namespace

TEST_SUITE("benchmark") {

TEST_CASE("bench_models: repeat timed runs per model, ordered statistics, samples/s from the batch, weight bytes") {
  Model a = wide_conv(16), b = tiny_conv_model();
  bind_batch(a, 4);
  bind_batch(b, 0);   // fixed batch 1 stays
  BenchOptions o;
  o.warmup = 2;
  o.repeat = 7;
  int calls = 0;
  o.progress = [&](size_t, int, int total) {
    ++calls;
    CHECK(total == 10);   // 2 warm-ups, the memory run, 7 timed
  };
  const auto stats = bench_models({&a, &b}, o);
  REQUIRE(stats.size() == 2);
  CHECK(calls == 20);
  for (const BenchStats& s : stats) {
    CHECK(s.times_ms.size() == 7);
    CHECK(s.min_ms <= s.median_ms);
    CHECK(s.median_ms <= s.p90_ms);
    CHECK(s.min_ms > 0);
  }
  CHECK(stats[0].batch == 4);
  CHECK(stats[1].batch == 1);
  CHECK(stats[0].samples_per_s == doctest::Approx(4000.0 / stats[0].median_ms));
  CHECK(stats[0].weight_bytes == 64 * 3 * 3 * 3 * 4);
  o.repeat = 0;
  CHECK_THROWS_AS(bench_models({&a}, o), InputError);
  o.repeat = 1;
  o.warmup = 0;
  CHECK_THROWS_AS(bench_models({&a}, o), InputError);
}

TEST_CASE("run memory: one inference's resident growth covers its 64 MiB output") {
  Model m = wide_conv(512);   // Y: 64 x 512 x 512 floats = 64 MiB
  bind_batch(m, 1);
  BenchOptions o;
  o.warmup = 1;
  o.repeat = 1;
  const BenchStats s = bench_models({&m}, o).at(0);
  if (s.run_memory_bytes < 0) {
    MESSAGE("skipped: /proc/self/clear_refs is not available here");
    return;
  }
  CHECK(s.run_memory_bytes >= 60 * (int64_t{1} << 20));
  CHECK(s.run_memory_bytes < 1024 * (int64_t{1} << 20));
}

TEST_CASE("bind_batch and synthetic_feeds: free dim 0 bound, fixed ones kept or refused, other free dims named") {
  Model m = wide_conv(8);
  bind_batch(m, 3);
  const auto feeds = synthetic_feeds(m, 5);
  CHECK(feeds.at("X").sizes() == at::IntArrayRef({3, 3, 8, 8}));
  CHECK(feeds.at("X").min().item<float>() >= 0);
  CHECK(feeds.at("X").max().item<float>() < 1);
  CHECK(synthetic_feeds(m, 5).at("X").equal(feeds.at("X")));   // seeded
  Model fixed = tiny_conv_model();
  CHECK(input_error_of([&] { bind_batch(fixed, 4); }).find("fixed batch of 1; --batch 4") != std::string::npos);
  Model free_hw = wide_conv(8);
  (*free_hw.graph.inputs[0].shape)[2] = Dim{-1, "H"};
  CHECK(input_error_of([&] { bind_batch(free_hw, 1); }).find("--input-shape") != std::string::npos);
  Model unshaped = wide_conv(8);
  unshaped.graph.inputs[0].shape.reset();
  CHECK(input_error_of([&] { bind_batch(unshaped, 1); }).find("input 'X' has no declared shape") != std::string::npos);
  Model ids;
  ids.graph.inputs.push_back(ValueInfo{"ids", 7, std::vector<Dim>{Dim{-1, "N"}, Dim{5, ""}}});   // INT64
  bind_batch(ids, 2);
  CHECK(synthetic_feeds(ids, 0).at("ids").equal(at::zeros({2, 5}, at::kLong)));
}

}  // TEST_SUITE
