// Our exported models run in a real runtime (onnxruntime-node) and agree with our executor.
// The light models' weights are all 0.02 (their reference outputs are nearly uniform), so
// here every weight is replaced by seeded random values first: He-normal for Conv/Gemm
// weights, positive BatchNorm scales and variances, small biases.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

int64_t top1(const at::Tensor& t) { return t.reshape({-1}).argmax().item<int64_t>(); }

}  // namespace

TEST_SUITE("onnxruntime") {

TEST_CASE("light models with random weights: our executor matches onnxruntime") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
  set_threads(0);
  TempDir tmp;
  std::vector<std::string> names = {"bvlc_alexnet", "resnet50", "squeezenet", "shufflenet", "inception_v1"};
  std::vector<OrtJob> jobs;
  std::vector<at::Tensor> ours;
  for (const auto& name : names) {
    Model model = import_onnx(fmt::format("{}/light/light_{}.onnx", root, name));
    fold_constants(model);
    randomize_weights(model, 42);
    // With random weights the logits are large and softmax saturates to one-hot, which hides
    // errors: compare the logits.
    Graph& g = model.graph;
    if (g.nodes.back().op_type == "Softmax" && g.nodes.back().outputs[0] == g.outputs[0].name) {
      g.outputs[0].name = g.nodes.back().inputs[0];
      g.nodes.pop_back();
    }
    std::string path = (tmp / (name + ".onnx")).string();
    save_onnx(model, path);
    at::Tensor input = light_model_input(model);
    ours.push_back(Executor(model).run(std::vector<at::Tensor>{input}).at(0));
    jobs.push_back({path, {{model.graph.runtime_inputs()[0]->name, input}}});
  }
  auto results = run_onnxruntime(jobs);
  for (size_t m = 0; m < names.size(); ++m) {
    CAPTURE(names[m]);
    REQUIRE_MESSAGE(results[m].error.empty(), results[m].error);
    const at::Tensor& ref = results[m].outputs.at(0);
    // Random weights through up to ~50 layers: float32 summation order differs between the
    // engines, so compare relative to the output's scale; the top-1 class must agree.
    double scale = ref.abs().max().item<double>();
    double err = (ours[m] - ref).abs().max().item<double>();
    MESSAGE(fmt::format("{}: max abs error {:.3g} (output scale {:.3g})", names[m], err, scale));
    CHECK(err <= 1e-4 * scale + 1e-6);
    CHECK(top1(ours[m]) == top1(ref));
  }
}

TEST_CASE("exported conformance models run in onnxruntime and match our executor") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
  set_threads(0);
  TempDir tmp;
  std::vector<OrtJob> jobs;
  std::vector<std::string> names;
  std::vector<std::vector<at::Tensor>> ours;
  for (const char* suite : {"pytorch-converted", "pytorch-operator"}) {
    for (const auto& e : fs::directory_iterator(fs::path(root) / suite)) {
      const fs::path input0 = e.path() / "test_data_set_0" / "input_0.pb";
      try {
        Model model = import_onnx((e.path() / "model.onnx").string());
        std::vector<at::Tensor> inputs;
        OrtJob job;
        auto runtime = model.graph.runtime_inputs();
        for (size_t k = 0; k < runtime.size(); ++k) {
          inputs.push_back(read_tensor_file((e.path() / "test_data_set_0" / fmt::format("input_{}.pb", k)).string()));
          job.inputs.emplace_back(runtime[k]->name, inputs.back());
        }
        ours.push_back(Executor(model).run(inputs));
        job.model = (tmp / (e.path().filename().string() + ".onnx")).string();
        save_onnx(model, job.model);
        jobs.push_back(job);
        names.push_back(e.path().filename().string());
      } catch (const std::exception& ex) {
        MESSAGE(fmt::format("{}: not exported ({})", e.path().filename().string(), ex.what()));
      }
    }
  }
  auto results = run_onnxruntime(jobs);
  int agree = 0;
  std::vector<std::string> failures;
  for (size_t j = 0; j < jobs.size(); ++j) {
    std::string why = results[j].error;
    for (size_t k = 0; why.empty() && k < ours[j].size(); ++k) {
      if (k >= results[j].outputs.size()) why = "missing output";
      else if (!all_close(ours[j][k], results[j].outputs[k], 1e-3, 1e-5, &why)) why = fmt::format("output {}: {}", k, why);
    }
    if (why.empty()) ++agree;
    else failures.push_back(fmt::format("{}: {}", names[j], why));
  }
  MESSAGE(fmt::format("onnxruntime agrees with our executor on {} of {} exported conformance models", agree, jobs.size()));
  for (const auto& f : failures) MESSAGE(f);
  CHECK(failures.empty());
  CHECK(jobs.size() >= 110);
}

}  // TEST_SUITE
