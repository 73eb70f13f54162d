// Runs every case of ../shared/conformance/ through import -> executor, and through
// import -> export -> import, comparing with the reference outputs (rtol 1e-3, atol 1e-7 as the
// data's README states). Cases that fail on purpose are listed, with the reason, in
// tests/conformance_known_failures.txt; a listed case that passes is an error too, so the list
// stays true.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>

#include "core/executor.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

constexpr double kRtol = 1e-3, kAtol = 1e-7;

std::map<std::string, std::string> known_failures() {
  std::map<std::string, std::string> out;
  std::ifstream in(std::string(EDGEPACK_SOURCE_DIR) + "/tests/conformance_known_failures.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    out[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
  }
  return out;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::regex& pattern) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), pattern)) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    auto num = [](const fs::path& p) { return std::stoi(std::regex_replace(p.stem().string(), std::regex("\\D"), "")); };
    return num(a) < num(b);
  });
  return out;
}

Model round_trip(const Model& model) {
  onnx::ModelProto proto;
  export_onnx(model, &proto);
  return import_onnx(proto, "");
}

// Runs `model` and the round-tripped copy on each data set; returns "" on success or the reason.
std::string check_case(const fs::path& dir) {
  Model model = import_onnx((dir / "model.onnx").string());
  Model again = round_trip(model);
  Executor exec(model), exec_again(again);
  auto sets = sorted_files(dir, std::regex("test_data_set_\\d+"));
  if (sets.empty()) return "no test data";
  for (const auto& set : sets) {
    std::vector<at::Tensor> inputs, expected;
    for (const auto& f : sorted_files(set, std::regex("input_\\d+\\.pb"))) inputs.push_back(read_tensor_file(f.string()));
    for (const auto& f : sorted_files(set, std::regex("output_\\d+\\.pb"))) expected.push_back(read_tensor_file(f.string()));
    auto got = exec.run(inputs);
    auto got_again = exec_again.run(inputs);
    if (got.size() != expected.size()) return fmt::format("{} outputs, expected {}", got.size(), expected.size());
    for (size_t k = 0; k < got.size(); ++k) {
      std::string why;
      if (!all_close(got[k], expected[k], kRtol, kAtol, &why))
        return fmt::format("{} output {}: {}", set.filename().string(), k, why);
      if (!all_close(got_again[k], got[k], 0, 0)) return fmt::format("output {} differs after export/import", k);
    }
  }
  return "";
}

std::string guarded(const std::function<std::string()>& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return fmt::format("error: {}", e.what());
  }
}

}  // namespace

TEST_SUITE("conformance") {

TEST_CASE("pytorch-converted and pytorch-operator cases match their reference outputs") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  set_threads(0);
  auto known = known_failures();
  int total = 0, passed = 0;
  std::vector<std::string> unexpected;
  for (const char* suite : {"pytorch-converted", "pytorch-operator"}) {
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(fs::path(root) / suite)) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& dir : cases) {
      ++total;
      const std::string name = dir.filename().string();
      std::string why = guarded([&] { return check_case(dir); });
      bool listed = known.count(name) != 0;
      if (why.empty()) ++passed;
      if (why.empty() && listed) unexpected.push_back(name + ": passes but is listed as a known failure");
      if (!why.empty() && !listed) unexpected.push_back(fmt::format("{}/{}: {}", suite, name, why));
    }
  }
  MESSAGE(fmt::format("conformance: {} of {} cases pass ({:.1f}%), {} listed as known failures", passed, total,
                      100.0 * passed / std::max(total, 1), known.size()));
  for (const auto& u : unexpected) MESSAGE(u);
  CHECK(unexpected.empty());
  CHECK(passed >= 0.95 * total);
}

TEST_CASE("light models match their reference outputs") {
  const std::string root = conformance_dir();
  SKIP_WITHOUT_CONFORMANCE(root);
  set_threads(0);
  for (const char* name : {"bvlc_alexnet", "resnet50", "squeezenet", "shufflenet", "inception_v1"}) {
    CAPTURE(name);
    fs::path dir = fs::path(root) / "light";
    std::string why = guarded([&] {
      Model model = import_onnx((dir / fmt::format("light_{}.onnx", name)).string());
      at::Tensor expected = read_tensor_file((dir / fmt::format("light_{}_output_0.pb", name)).string());
      at::Tensor input = light_model_input(model);
      auto got = Executor(model).run(std::vector<at::Tensor>{input});
      std::string reason;
      if (!all_close(got.at(0), expected, kRtol, kAtol, &reason)) return reason;
      auto again = Executor(round_trip(model)).run(std::vector<at::Tensor>{input});
      if (!all_close(again.at(0), got.at(0), 0, 0)) return std::string("differs after export/import");
      return std::string();
    });
    CHECK_MESSAGE(why.empty(), why);
  }
}

}  // TEST_SUITE
