// `edgepack compress` end to end on the MNIST sample: one folder per target, manifests whose
// sha256 and sizes match the files, models that pass onnx::checker and run in onnxruntime with
// the accuracy the manifest claims, exit 3 on an impossible gate, refusal to overwrite.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/dataset.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "core/sha256.h"
#include "tests/helpers.h"
#include "tests/kill_harness.h"
#include "tests/net_builder.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

const fs::path kData = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_SUITE("mnist") {

TEST_CASE("compress the MNIST teacher for three targets: artifacts, manifests, onnxruntime accuracy, gates") {
  REQUIRE_MESSAGE(fs::exists(kData / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  TempDir tmp;
  const fs::path out = tmp / "artifacts";
  const std::string base = fmt::format("-q compress {} --data {} --eval-data {} --out {}", q(kData / "teacher.onnx"),
                                       q(kData / "train.npz"), q(kData / "test.npz"), q(out));
  CliResult r = run_cli(base + " --target qcs2290,qcs6490,jetson-agx-orin --max-accuracy-drop 0.5 --json");
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto summary = nlohmann::json::parse(r.out);
  CHECK(summary["passed"] == true);
  REQUIRE(summary["targets"].size() == 3);
  CHECK(read_json(out / "summary.json") == summary);
  CHECK(fs::exists(out / "summary.md"));

  Model reference = import_onnx((kData / "teacher.onnx").string());
  Dataset test = load_dataset((kData / "test.npz").string(), reference);
  const std::string input = reference.graph.runtime_inputs()[0]->name;
  std::vector<OrtJob> jobs;
  std::vector<double> claimed;
  for (const std::string id : {"qcs2290", "qcs6490", "jetson-agx-orin"}) {
    CAPTURE(id);
    const fs::path dir = out / id;
    for (const char* f : {"model.onnx", "manifest.json", "report.md", "report.html"}) CHECK(fs::exists(dir / f));
    auto m = read_json(dir / "manifest.json");
    CHECK(m["schema"] == "edgepack.manifest/1");
    CHECK(m["target"]["id"] == id);
    CHECK(m["output"]["sha256"] == file_sha256((dir / "model.onnx").string()));
    CHECK(m["output"]["bytes"] == fs::file_size(dir / "model.onnx"));
    CHECK(m["input"]["sha256"] == file_sha256((kData / "teacher.onnx").string()));
    CHECK(m["passed"] == true);
    CHECK(m["after"]["bytes"].get<double>() < 0.3 * m["before"]["bytes"].get<double>());   // INT8
    import_onnx((dir / "model.onnx").string());   // onnx::checker
    jobs.push_back({(dir / "model.onnx").string(), {{input, test.inputs.at(input)}}});
    claimed.push_back(m["accuracy"]["after"]);
  }
  REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
  auto ort = run_onnxruntime(jobs);
  for (size_t i = 0; i < jobs.size(); ++i) {
    REQUIRE_MESSAGE(ort[i].error.empty(), ort[i].error);
    const at::Tensor pred = ort[i].outputs.at(0).reshape({test.samples, -1}).argmax(1);
    const double acc = pred.eq(test.labels).to(at::kDouble).mean().item<double>();
    MESSAGE(fmt::format("{}: onnxruntime top-1 {:.2f}%, manifest {:.2f}%", jobs[i].model, 100 * acc, 100 * claimed[i]));
    CHECK(std::abs(acc - claimed[i]) <= 0.002);
  }

  // A second run into the same folder refuses without --force.
  CliResult again = run_cli(base + " --target qcs2290");
  CHECK(again.exit_code == 2);
  CHECK(again.err.find("--force") != std::string::npos);
  // An impossible gate: artifacts and reports still written, marked failing, exit 3.
  CliResult gate = run_cli(base + " --target qcs2290 --max-size-mb 0.001 --force --json");
  CAPTURE(gate.err);
  CHECK(gate.exit_code == 3);
  auto failing = read_json(out / "qcs2290" / "manifest.json");
  CHECK(failing["passed"] == false);
  CHECK(fs::exists(out / "qcs2290" / "model.onnx"));
  CHECK_FALSE(fs::exists(out / "qcs6490"));   // replaced whole
}

}  // TEST_SUITE

TEST_SUITE("mnist") {

TEST_CASE("compress killed at random points leaves no folder or a complete one") {
  REQUIRE_MESSAGE(fs::exists(kData / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  TempDir tmp;
  const fs::path out = tmp / "artifacts";
  const std::string command =
      fmt::format("{} -q compress {} --data {} --calib-samples 64 --out {} --target qcs2290 --force > /dev/null 2>&1", EDGEPACK_BINARY,
                  q(kData / "teacher.onnx"), q(kData / "train.npz"), q(out));
  KillTestOptions options;
  options.runs = 4;
  const FolderCheck valid = [&](const fs::path& dir, const std::vector<std::string>& files, std::string* why) {
    if (files.empty()) return true;
    for (const char* f : {"summary.json", "summary.md", "qcs2290/model.onnx", "qcs2290/manifest.json", "qcs2290/report.html"})
      if (!fs::exists(dir / f)) {
        *why = fmt::format("incomplete: no {}", f);
        return false;
      }
    if (read_json(dir / "qcs2290" / "manifest.json")["output"]["sha256"] == file_sha256((dir / "qcs2290" / "model.onnx").string()))
      return true;
    *why = "the manifest's sha256 does not match model.onnx";
    return false;
  };
  KillTestReport report = kill_test(command, out, valid, options);
  MESSAGE(fmt::format("compress kill test: {} killed, {} finished; full run {:.1f} s", report.killed, report.finished,
                      report.full_run_seconds));
  for (const auto& f : report.failures) FAIL_CHECK(f);
  // What the last killed run staged beside the folder is swept by the next run, which completes.
  REQUIRE(std::system(command.c_str()) == 0);
  std::string why;
  CHECK_MESSAGE(edgepack::test::detail::check_folder(out, options, [&](const fs::path& d, const std::vector<std::string>& f, std::string* w) {
    return !f.empty() && valid(d, f, w);
  }, &why), why);
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) leftovers += e.path().filename() != "artifacts";
  CHECK(leftovers == 0);
}

}  // TEST_SUITE

TEST_SUITE("cli") {

TEST_CASE("compress reads a recipe; the command line wins; unknown keys and missing settings are refused") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  at::manual_seed(4);
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({16, 3, 8, 8})}});
  write_text(tmp / "recipe.yaml", fmt::format("data: {}\ntargets: [qcs2290, jetson-agx-orin]\nout: {}\nbudgets: {{max_size_mb: 0.00001}}\ncalib_samples: 8\n",
                                              (tmp / "calib.npz").string(), (tmp / "out").string()));
  CliResult r = run_cli(fmt::format("-q compress {} --recipe {} --json", q(tmp / "net.onnx"), q(tmp / "recipe.yaml")));
  CAPTURE(r.err);
  CHECK(r.exit_code == 3);   // no artifact is 10 bytes
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["targets"].size() == 2);
  CHECK(j["passed"] == false);
  CHECK(fs::exists(tmp / "out" / "jetson-agx-orin" / "report.html"));
  CHECK(read_json(tmp / "out" / "qcs2290" / "manifest.json")["calibration"]["samples"] == 8);
  r = run_cli(fmt::format("-q compress {} --recipe {} --target qcs2290 --max-size-mb 100 --calib-samples 12 --force --json",
                          q(tmp / "net.onnx"), q(tmp / "recipe.yaml")));
  CHECK(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["targets"].size() == 1);
  CHECK(read_json(tmp / "out" / "qcs2290" / "manifest.json")["calibration"]["samples"] == 12);   // the flag wins

  write_text(tmp / "bad.yaml", "targets: [qcs2290]\nbudget: {max_size_mb: 1}\n");
  for (const std::string& args : {fmt::format("--recipe {}", q(tmp / "bad.yaml")), std::string("--target qcs2290"),
                                  fmt::format("--target nope --data {} --out {}", q(tmp / "calib.npz"), q(tmp / "o2"))}) {
    CAPTURE(args);
    CliResult bad = run_cli(fmt::format("-q compress {} {}", q(tmp / "net.onnx"), args));
    CHECK(bad.exit_code == 2);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  }
}

TEST_CASE("a recipe runs sensitivity-driven pruning, a recovery fine-tune and mixed precision through compress") {
  TempDir tmp;
  save_onnx(residual_net(), (tmp / "net.onnx").string());
  at::manual_seed(5);
  write_npz((tmp / "calib.npz").string(), {{"X", at::randn({32, 3, 8, 8})}});
  // No labels: sensitivity and the accuracy budget measure top-1 agreement with the original on
  // --data; the fine-tune distils from the original alone.
  write_text(tmp / "recipe.yaml",
             fmt::format("pipeline: prune{{sensitivity=true target-macs=0.7}},finetune{{epochs=1 batch-size=16}},"
                         "quantize{{max-accuracy-drop=0}}\ndata: {}\ntargets: [qcs6490]\nout: {}\n",
                         (tmp / "calib.npz").string(), (tmp / "out").string()));
  CliResult r = run_cli(fmt::format("-q compress {} --recipe {} --json", q(tmp / "net.onnx"), q(tmp / "recipe.yaml")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  const auto manifest = nlohmann::json::parse(std::ifstream(tmp / "out" / "qcs6490" / "manifest.json"));
  // The canonical pipeline shows every step that ran, canonicalisation included.
  CHECK(manifest["pipeline"] ==
        "fold-constants,prune{target-macs=0.7 sensitivity=true},finetune{epochs=1 batch-size=16},fold-constants,fold-bn,"
        "quantize{max-accuracy-drop=0}");
  std::vector<std::string> passes;
  for (const auto& p : manifest["passes"]) passes.push_back(p["pass"]);
  CHECK(passes == std::vector<std::string>{"fold-constants", "prune", "finetune", "fold-constants", "fold-bn", "quantize"});
  const auto& prune = manifest["passes"][1];
  CHECK(prune["details"]["sensitivity"]["groups"].size() == 2);   // the residual group and conv3
  CHECK(!prune["details"]["layer_ratios"].get<std::string>().empty());
  CHECK(prune["stats"]["macs_after"].get<double>() <= 0.7 * prune["stats"]["macs_before"].get<double>());
  CHECK(manifest["passes"][2]["stats"]["epochs"] == 1);
  // Mixed precision with a zero budget keeps in FP32 whatever changes a top-1 prediction.
  const auto& quantize = manifest["passes"][5];
  CHECK(quantize["details"]["sensitivity"]["metric"] == "agreement");
  CHECK(quantize["details"]["sensitivity"]["final_loss_points"].get<double>() <= 0.0);
  CHECK(quantize["stats"]["kept_fp32_layers"].get<double>() ==
        static_cast<double>(quantize["details"]["sensitivity"]["kept_fp32"].size()));
}

TEST_CASE("edgepack passes --json declares every capability with typed options and descriptions") {
  CliResult r = run_cli("passes --json");
  REQUIRE(r.exit_code == 0);
  std::map<std::string, nlohmann::json> passes;
  for (const auto& p : nlohmann::json::parse(r.out)) passes[p["name"]] = p;
  for (const char* name : {"fold-constants", "fold-bn", "prune", "distill", "finetune", "quantize", "quantize-weights"}) {
    CAPTURE(name);
    REQUIRE(passes.count(name));
    CHECK(passes[name]["description"].get<std::string>().size() > 80);
  }
  auto option = [&](const std::string& pass, const std::string& name) {
    for (const auto& o : passes[pass]["options"])
      if (o["name"] == name) return o;
    return nlohmann::json();
  };
  CHECK(option("quantize", "max-accuracy-drop")["type"] == "float");
  CHECK(option("quantize", "sensitivity")["type"] == "bool");
  CHECK(option("prune", "sensitivity")["type"] == "bool");
  CHECK(option("prune", "ratio")["max"] == 1.0);
  CHECK(option("prune", "ratio")["max_exclusive"] == true);
  CHECK(option("finetune", "epochs")["min"] == 1.0);
  CHECK(passes["quantize"]["runs_after"] == nlohmann::json({"fold-constants", "fold-bn"}));
  // A bad value names the flag on the command line and the column in a pipeline.
  CliResult flag = run_cli("prune x.onnx -o y.onnx --ratio 2");
  CHECK(flag.exit_code == 2);
  CHECK(flag.err.find("--ratio") != std::string::npos);
  CHECK(flag.err.find("[0, 1)") != std::string::npos);
  CliResult budget = run_cli("quantize x.onnx -o y.onnx --data d.npz --max-accuracy-drop -1");
  CHECK(budget.exit_code == 2);
  CHECK(budget.err.find("--max-accuracy-drop") != std::string::npos);
  CHECK(budget.err.find("[0, 100]") != std::string::npos);
  CHECK(option("quantize", "max-accuracy-drop")["default"] == "");   // unset: no budget
  CliResult column = run_cli("compress x.onnx --target qcs2290 --data d.npz --out o --pipeline 'prune{ratio=2}'");
  CHECK(column.exit_code == 2);
  CHECK(column.err.find("pipeline column 13") != std::string::npos);
}

}  // TEST_SUITE
