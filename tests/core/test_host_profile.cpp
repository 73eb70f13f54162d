// The `host` target: measure_host gives positive finite figures marked "measured", the profile
// reads back through a target file, and the CLI prints, saves and uses it. No timing
// assertions: the cores are shared and the figures vary from run to run.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/cost_model.h"
#include "core/host_profile.h"
#include "core/targets.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

bool positive(double v) { return std::isfinite(v) && v > 0; }

// One short measurement shared by the cases (a tenth of the CLI's timing budget).
const TargetProfile& quick_host() {
  static const TargetProfile host = measure_host(1, 0.1);
  return host;
}

}  // namespace

TEST_SUITE("host_profile") {

TEST_CASE("measure_host returns positive finite figures, each marked measured with its date") {
  const HostMeasurement m = measure_host_figures(1, 0.1);
  CHECK(m.threads == 1);
  CHECK(m.cores >= 1);
  for (double v : {m.gemm_gflops, m.conv_gflops, m.fp32_gflops, m.int8_gops, m.bandwidth_gbps, m.node_overhead_us,
                   m.ram_mb})
    CHECK(positive(v));
  CHECK(m.fp32_gflops == std::max(m.gemm_gflops, m.conv_gflops));
  CHECK(!m.int8_method.empty());
  CHECK(m.date.size() == 10);

  const TargetProfile& p = quick_host();
  CHECK(p.id == "host");
  REQUIRE(p.fp32_tops);
  REQUIRE(p.node_overhead_us);
  for (const Figure* f : {&*p.fp32_tops, &p.bandwidth_gbps, &p.ram_mb, &*p.node_overhead_us}) {
    CHECK(positive(f->value));
    CHECK(f->confidence == "measured");
    CHECK(f->source.find("measured by edgepack targets --measure-host on ") == 0);
  }
  CHECK(positive(p.int8_tops.value));
  CHECK((p.int8_tops.confidence == "measured" || p.int8_tops.confidence == "derived"));
  CHECK(positive(p.power_w.value));
  CHECK(p.power_w.confidence == "estimate");
}

TEST_CASE("the host profile round-trips through a target file, JSON and YAML") {
  TempDir tmp;
  const TargetProfile& host = quick_host();
  const std::string json_file = (tmp / "host.json").string();
  write_text(json_file, nlohmann::json{{"targets", {host}}}.dump(2));
  std::vector<TargetProfile> targets = load_targets(json_file);
  const TargetProfile& back = find_target(targets, "host");
  CHECK(nlohmann::json(back) == nlohmann::json(host));
  // It is a new profile: the built-ins are all still there.
  CHECK(targets.size() == builtin_targets().size() + 1);
}

TEST_CASE("the node overhead is a per-node fixed cost in the estimate") {
  TargetProfile p = find_target("rk3588");
  const ModelCost cost = analyze_model(tiny_conv_model());  // Conv, Relu: 2 runtime nodes
  const CostEstimate without = estimate_cost(cost, p);
  CHECK(without.overhead_ms == 0);
  p.node_overhead_us = Figure{10, "test", "user"};
  const CostEstimate with = estimate_cost(cost, p);
  CHECK(with.overhead_ms == doctest::Approx(2 * 10e-3));
  CHECK(with.latency_ms == doctest::Approx(without.latency_ms + 2 * 10e-3));
  CHECK(with.compute_ms == without.compute_ms);
  CHECK(with.memory_ms == without.memory_ms);
}

TEST_CASE("edgepack targets --measure-host --json --save, then inspect --target host") {
  TempDir tmp;
  const fs::path saved = tmp / "host.yaml";
  CliResult r = run_cli("--threads 1 targets --measure-host --json --save " + q(saved));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  nlohmann::json doc = nlohmann::json::parse(r.out);
  REQUIRE(doc.at("targets").size() == 1);
  const nlohmann::json& host = doc["targets"][0];
  CHECK(host.at("id") == "host");
  for (const char* key : {"int8_tops", "fp32_tops", "bandwidth_gbps", "ram_mb", "power_w", "node_overhead_us"}) {
    CAPTURE(key);
    REQUIRE(host.contains(key));
    CHECK(host[key].at("value").get<double>() > 0);
    CHECK(!host[key].at("source").get<std::string>().empty());
  }
  CHECK(host["fp32_tops"]["confidence"] == "measured");
  CHECK(host["bandwidth_gbps"]["confidence"] == "measured");
  REQUIRE(fs::exists(saved));

  // The saved YAML is the same profile as the printed JSON.
  const std::vector<TargetProfile> targets = load_targets(saved.string());
  CHECK(nlohmann::json(find_target(targets, "host")) == host);

  CliResult listed = run_cli("targets --target-file " + q(saved));
  CHECK(listed.exit_code == 0);
  CHECK(listed.out.find("host") != std::string::npos);

  // inspect with the saved profile: the estimate is on `host`, overhead included.
  const fs::path model = tmp / "tiny.onnx";
  save_onnx(tiny_conv_model(), model.string());
  CliResult inspect = run_cli("inspect " + q(model) + " --json --target host --target-file " + q(saved));
  REQUIRE_MESSAGE(inspect.exit_code == 0, inspect.err);
  const nlohmann::json est = nlohmann::json::parse(inspect.out);
  CHECK(est.dump().find("\"target\":\"host\"") != std::string::npos);
  CHECK(est.dump().find("\"overhead_ms\"") != std::string::npos);
  CliResult text = run_cli("inspect " + q(model) + " --target host --target-file " + q(saved));
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("host") != std::string::npos);
}

TEST_CASE("--save refuses an unknown extension and needs --measure-host") {
  TempDir tmp;
  CliResult r = run_cli("targets --measure-host --save " + q(tmp / "host.txt"));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("host.txt") != std::string::npos);
  CHECK(!fs::exists(tmp / "host.txt"));
  CHECK(run_cli("targets --save " + q(tmp / "host.yaml")).exit_code == 2);
}

}  // TEST_SUITE
