// Target profiles: the built-ins of targets-reference.md, user files (YAML and JSON) adding
// and overriding profiles, and the errors a bad file must give.
#include <doctest/doctest.h>

#include <cstdlib>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/targets.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

void check_figure(const Figure& f, const std::string& what) {
  CAPTURE(what);
  CHECK(f.value > 0);
  CHECK(!f.source.empty());
  CHECK(std::find(kConfidenceLevels.begin(), kConfidenceLevels.end(), f.confidence) != kConfidenceLevels.end());
}

// The InputError message of `fn`, or "" when it does not throw one.
template <typename Fn>
std::string input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("targets") {

TEST_CASE("every device of targets-reference.md is built in, each figure with source and confidence") {
  const std::vector<std::string> ids = {"qcs2290", "qcs4290", "qcs4490", "qcs6490", "qcs8250", "qcs8550",
                                        "sa8295p", "x3m", "jetson-agx-orin", "jetson-orin-nano", "mlu220",
                                        "allwinner-a33", "rk3588", "rpi5", "tesla-fsd-hw3", "a100"};
  REQUIRE(builtin_targets().size() == ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const TargetProfile& p = builtin_targets()[i];
    CAPTURE(p.id);
    CHECK(p.id == ids[i]);
    CHECK(!p.name.empty());
    CHECK(!p.accelerator.empty());
    CHECK(!p.precisions.empty());
    CHECK(p.artifact_format == "onnx-qdq");
    check_figure(p.int8_tops, "int8_tops");
    check_figure(p.bandwidth_gbps, "bandwidth_gbps");
    check_figure(p.ram_mb, "ram_mb");
    check_figure(p.power_w, "power_w");
    for (const auto* f : {&p.int8_dense_tops, &p.fp16_tops, &p.fp32_tops})
      if (*f) check_figure(**f, "optional figure");
    CHECK(!p.confidence_summary().empty());
  }
}

TEST_CASE("brief figures win and the TOPS convention holds") {
  CHECK(find_target("qcs4490").int8_tops.value == 1.5);
  CHECK(find_target("qcs6490").int8_tops.confidence == "brief");
  CHECK(find_target("qcs2290").confidence_summary() == "brief / estimate");
  CHECK(find_target("rk3588").confidence_summary() == "datasheet");
  const TargetProfile& orin = find_target("jetson-agx-orin");
  CHECK(orin.int8_tops.value == 200);
  CHECK(orin.int8_kind == TopsKind::Sparse);
  CHECK(orin.dense_int8_tops() == 138);
  CHECK(find_target("x3m").int8_kind == TopsKind::Equivalent);
  CHECK(find_target("x3m").dense_int8_tops() == 5);
  TargetProfile sparse = find_target("jetson-orin-nano");
  sparse.int8_kind = TopsKind::Sparse;
  CHECK(sparse.dense_int8_tops() == 10);
  CHECK(find_target("a100").device_class == DeviceClass::Cloud);
  CHECK(find_target("qcs2290").device_class == DeviceClass::Terminal);
  CHECK(classify(2, 3) == DeviceClass::Terminal);
  CHECK(classify(20, 10) == DeviceClass::Edge);
  CHECK(classify(100, 300) == DeviceClass::Cloud);
}

TEST_CASE("an unknown id lists the known ones") {
  std::string msg = input_error([] { find_target("qcs9999"); });
  CHECK(contains(msg, "unknown target 'qcs9999'"));
  CHECK(contains(msg, "qcs2290"));
  CHECK(contains(msg, "a100"));
}

TEST_CASE("a YAML file adds a profile and overrides part of a built-in one") {
  TempDir tmp;
  write_text(tmp / "mine.yaml", R"(targets:
  - id: my-npu
    name: "My NPU board"
    int8_tops: 4
    bandwidth_gbps: {value: 12.8, source: "LPDDR4 x32 at 3200", confidence: derived}
    ram_mb: 1024
    power_w: 3
    precisions: [int8, fp16]
    accelerator: 1-core NPU
  - id: rpi5
    bandwidth_gbps: 20
    source: "measured with stream"
    confidence: estimate
)");
  const std::string path = (tmp / "mine.yaml").string();
  std::vector<TargetProfile> targets = load_targets(path);
  REQUIRE(targets.size() == builtin_targets().size() + 1);
  const TargetProfile& mine = find_target(targets, "my-npu");
  CHECK(mine.name == "My NPU board");
  CHECK(mine.int8_tops.value == 4);
  CHECK(mine.int8_tops.source == "user file " + path);
  CHECK(mine.int8_tops.confidence == "user");
  CHECK(mine.bandwidth_gbps.value == 12.8);
  CHECK(mine.bandwidth_gbps.source == "LPDDR4 x32 at 3200");
  CHECK(mine.bandwidth_gbps.confidence == "derived");
  CHECK(mine.accelerator == "1-core NPU");
  CHECK(mine.precisions == std::vector<std::string>{"int8", "fp16"});
  CHECK(mine.device_class == DeviceClass::Terminal);  // classify(4, 3)
  CHECK(mine.artifact_format == "onnx-qdq");

  const TargetProfile& rpi = find_target(targets, "rpi5");
  const TargetProfile& builtin = find_target("rpi5");
  CHECK(rpi.bandwidth_gbps.value == 20);
  CHECK(rpi.bandwidth_gbps.source == "measured with stream");
  CHECK(rpi.bandwidth_gbps.confidence == "estimate");
  CHECK(rpi.ram_mb.value == builtin.ram_mb.value);
  CHECK(rpi.int8_tops.source == builtin.int8_tops.source);
  CHECK(rpi.name == builtin.name);
  CHECK(builtin.bandwidth_gbps.value == 17);  // the built-ins themselves are untouched
}

TEST_CASE("EDGEPACK_TARGETS adds device files to every load: files and folders in order, --target-file last") {
  TempDir tmp;
  fs::create_directories(tmp / "devices");
  write_text(tmp / "devices" / "a.json", R"({"targets": [{"id": "cam-a", "name": "Camera A", "int8_tops": 2, "int8_kind": "dense",
    "bandwidth_gbps": 8, "ram_mb": 1024, "power_w": 3}]})");
  write_text(tmp / "devices" / "b.yaml", "targets:\n  - id: cam-a\n    ram_mb: 2048\n");   // overrides a.json (name order)
  write_text(tmp / "devices" / "notes.txt", "not a device file");
  write_text(tmp / "last.json", R"({"targets": [{"id": "cam-a", "ram_mb": 4096}]})");
  const std::string list = (tmp / "devices").string() + ":" + (tmp / "last.json").string();
  setenv("EDGEPACK_TARGETS", list.c_str(), 1);
  CHECK(configured_target_files().size() == 3);
  CHECK(find_target(load_targets(), "cam-a").ram_mb.value == 4096);
  setenv("EDGEPACK_TARGETS", (tmp / "devices").string().c_str(), 1);
  CHECK(find_target(load_targets(), "cam-a").ram_mb.value == 2048);
  CHECK(find_target(load_targets((tmp / "last.json").string()), "cam-a").ram_mb.value == 4096);
  setenv("EDGEPACK_TARGETS", (tmp / "nowhere").string().c_str(), 1);
  CHECK(contains(input_error([&] { load_targets(); }), "EDGEPACK_TARGETS names"));
  unsetenv("EDGEPACK_TARGETS");
  CHECK(configured_target_files().empty());
  CHECK(contains(input_error([&] { find_target(load_targets(), "cam-a"); }), "unknown target 'cam-a'"));
}

TEST_CASE("a JSON file adds and overrides profiles the same way") {
  TempDir tmp;
  write_text(tmp / "mine.json", R"({"targets": [
    {"id": "big-box", "name": "Big box", "int8_tops": 400, "int8_kind": "sparse", "bandwidth_gbps": 900,
     "ram_mb": 65536, "power_w": 300, "fp32_tops": {"value": 40, "confidence": "datasheet"}},
    {"id": "jetson-agx-orin", "int8_tops": 275, "class": "cloud"}
  ]})");
  std::vector<TargetProfile> targets = load_targets((tmp / "mine.json").string());
  const TargetProfile& box = find_target(targets, "big-box");
  CHECK(box.device_class == DeviceClass::Cloud);
  CHECK(box.dense_int8_tops() == 200);
  REQUIRE(box.fp32_tops);
  CHECK(box.fp32_tops->value == 40);
  CHECK(box.fp32_tops->confidence == "datasheet");
  const TargetProfile& orin = find_target(targets, "jetson-agx-orin");
  CHECK(orin.int8_tops.value == 275);
  CHECK(orin.int8_kind == TopsKind::Sparse);
  CHECK(orin.device_class == DeviceClass::Cloud);
  // The built-in dense figure belonged to the old headline.
  CHECK(!orin.int8_dense_tops);
  CHECK(orin.dense_int8_tops() == 137.5);
}

TEST_CASE("bad files: errors name the file, the profile and the key; nothing is applied") {
  TempDir tmp;
  auto error_of = [&](const std::string& name, const std::string& text) {
    write_text(tmp / name, text);
    std::vector<TargetProfile> targets = builtin_targets();
    std::string msg = input_error([&] { apply_target_file(targets, (tmp / name).string()); });
    CHECK(targets.size() == builtin_targets().size());
    CHECK(targets[0].name == builtin_targets()[0].name);
    return msg;
  };
  std::string msg = error_of("unknown.yaml", "targets:\n  - id: rpi5\n    bandwith_gbps: 20\n");
  CHECK(contains(msg, "unknown.yaml"));
  CHECK(contains(msg, "'rpi5'"));
  CHECK(contains(msg, "unknown key 'bandwith_gbps'"));

  msg = error_of("missing.json", R"({"targets": [{"id": "new-board", "name": "N", "int8_tops": 1,
                                                   "bandwidth_gbps": 2, "power_w": 1}]})");
  CHECK(contains(msg, "'new-board'"));
  CHECK(contains(msg, "missing required key 'ram_mb'"));

  // The first entry is fine; the second spoils the file and neither is applied.
  msg = error_of("second.yaml", "targets:\n  - id: qcs2290\n    name: Renamed\n  - id: x\n    name: X\n");
  CHECK(contains(msg, "'x'"));
  CHECK(contains(msg, "missing required key 'int8_tops'"));

  msg = error_of("confidence.yaml", "targets:\n  - id: rpi5\n    ram_mb: {value: 4096, confidence: sure}\n");
  CHECK(contains(msg, "'rpi5'"));
  CHECK(contains(msg, "ram_mb.confidence"));

  msg = error_of("nested.yaml", "targets:\n  - id: rpi5\n    ram_mb: {value: 4096, unit: MB}\n");
  CHECK(contains(msg, "ram_mb.unit"));

  msg = error_of("negative.json", R"({"targets": [{"id": "rpi5", "power_w": -3}]})");
  CHECK(contains(msg, "power_w"));
  CHECK(contains(msg, "positive"));

  msg = error_of("kind.json", R"({"targets": [{"id": "rpi5", "int8_kind": "fast"}]})");
  CHECK(contains(msg, "int8_kind"));
  CHECK(contains(msg, "dense, sparse, equivalent"));

  CHECK(contains(error_of("top.yaml", "devices: []\n"), "top-level 'targets' list"));
  CHECK(contains(error_of("extra.json", R"({"targets": [], "version": 2})"), "unknown top-level key 'version'"));
  CHECK(contains(error_of("noid.yaml", "targets:\n  - name: X\n"), "targets[0]: missing required key 'id'"));
  CHECK(contains(error_of("broken.json", "{\"targets\": ["), "invalid JSON"));
  CHECK(contains(error_of("broken.yaml", "targets: [\n"), "invalid YAML"));
  CHECK(contains(error_of("mine.txt", "targets: []\n"), "use .json, .yaml or .yml"));
  CHECK(contains(input_error([&] { load_targets((tmp / "none.yaml").string()); }), "cannot open"));
}

TEST_CASE("profiles written as JSON read back unchanged") {
  TempDir tmp;
  nlohmann::json doc = {{"targets", builtin_targets()}};
  write_text(tmp / "all.json", doc.dump());
  std::vector<TargetProfile> empty;
  apply_target_file(empty, (tmp / "all.json").string());
  CHECK(nlohmann::json(empty) == nlohmann::json(builtin_targets()));
}

}  // TEST_SUITE
