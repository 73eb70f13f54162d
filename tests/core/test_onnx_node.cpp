// ONNX's own operator test suite (Debian's libonnx-testdata: data/node, 932 cases at ONNX 1.12,
// each a model with input_K.pb and expected output_K.pb) through the library: import, Executor,
// and the comparison ONNX's backend runner makes (numpy assert_allclose rtol 1e-3, atol 1e-7;
// integers and bools exactly). Every case lands in one class:
//   pass              every output matches
//   unsupported op    the executor has no kernel for an op type (a clear InputError)
//   unsupported type  a value type we do not load (sequence, optional, map, string ...)
//   refused           another clear InputError (an attribute value we do not implement)
//   known             a difference listed, with its reason, in tests/onnx_node_known_differences.txt
//   wrong             any other mismatch: fails the test
//   error             anything but an InputError (c10::Error, std::exception): fails the test
// The counts by class and the unsupported op types are printed (EDGEPACK_ONNX_NODE_VERBOSE=1: every
// case that does not pass, with why); a known difference that now passes fails too, so the list
// stays true.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;
namespace fs = std::filesystem;

namespace {

// $EDGEPACK_ONNX_NODE_DIR, else Debian's libonnx-testdata; "" when neither is a folder.
std::string node_suite_dir() {
  const char* env = std::getenv("EDGEPACK_ONNX_NODE_DIR");
  const std::string dir = env && *env ? env : "/usr/share/libonnx-testdata/data/node";
  return fs::is_directory(dir) ? dir : "";
}

// case name -> reason, from "NAME  reason..." lines ('#' comments).
std::map<std::string, std::string> known_differences() {
  std::map<std::string, std::string> known;
  std::ifstream in(fs::path(EDGEPACK_SOURCE_DIR) / "tests" / "onnx_node_known_differences.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, reason;
    words >> name;
    std::getline(words, reason);
    known[name] = reason.substr(std::min(reason.find_first_not_of(' '), reason.size()));
  }
  return known;
}

bool tensor_typed(const onnx::TypeProto& t) { return t.has_tensor_type(); }

struct Outcome {
  std::string kind;     // pass, unsupported op, unsupported type, refused, wrong, error
  std::string detail;   // the op type, the message, or what differed
};

// The comparison of onnx/backend/test/runner: same shape, allclose(rtol 1e-3, atol 1e-7) with
// NaN == NaN for floats, equality otherwise.
std::string difference(const at::Tensor& got, const at::Tensor& want) {
  if (got.sizes() != want.sizes())
    return fmt::format("shape [{}] != [{}]", fmt::join(got.sizes(), ","), fmt::join(want.sizes(), ","));
  if (at::isFloatingType(want.scalar_type())) {
    const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
    if (at::allclose(g, w, 1e-3, 1e-7, /*equal_nan=*/true)) return "";
    const at::Tensor both = at::isfinite(g) & at::isfinite(w);
    const double err = both.any().item<bool>() ? (g - w).abs().masked_select(both).max().item<double>() : 0.0;
    return fmt::format("max abs error {:.3g}", err);
  }
  if (got.scalar_type() == at::kBool || want.scalar_type() == at::kBool)
    return at::equal(got.to(at::kBool), want.to(at::kBool)) ? "" : "bool values differ";
  return at::equal(got.to(at::kLong), want.to(at::kLong)) ? "" : "integer values differ";
}

at::Tensor read_tensor(const fs::path& file) { return read_tensor_file(file.string()); }

// The suite stores bfloat16 data as UINT16 bit patterns (numpy has no bfloat16), which the IR
// holds widened in int32 (core/tensor_proto.h); a BFLOAT16 input is fed those bits as bfloat16,
// and a BFLOAT16 output is compared by its bits.
at::Tensor bfloat16_from_bits(const at::Tensor& t) {
  return t.scalar_type() == at::kInt ? t.to(at::kShort).view(at::kBFloat16) : t;
}
at::Tensor bits_of_bfloat16(const at::Tensor& t) { return t.contiguous().view(at::kShort).to(at::kInt).bitwise_and(0xFFFF); }

Outcome run_case(const fs::path& dir) {
  onnx::ModelProto proto;
  if (!proto.ParseFromString(read_file((dir / "model.onnx").string(), "model"))) return {"error", "model.onnx does not parse"};
  for (const auto* list : {&proto.graph().input(), &proto.graph().output()})
    for (const auto& v : *list)
      if (!tensor_typed(v.type())) return {"unsupported type", "a sequence, optional or map value"};
  try {
    const Model model = import_onnx((dir / "model.onnx").string());
    Executor exec(model);   // refuses unsupported ops up front
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    for (const fs::path& set : sets) {
      std::vector<at::Tensor> inputs, expected;
      const auto runtime_inputs = model.graph.runtime_inputs();
      for (size_t k = 0; fs::exists(set / fmt::format("input_{}.pb", k)); ++k) {
        at::Tensor t = read_tensor(set / fmt::format("input_{}.pb", k));
        if (k < runtime_inputs.size() && runtime_inputs[k]->elem_type == onnx::TensorProto::BFLOAT16) t = bfloat16_from_bits(t);
        inputs.push_back(t);
      }
      for (size_t k = 0; fs::exists(set / fmt::format("output_{}.pb", k)); ++k)
        expected.push_back(read_tensor(set / fmt::format("output_{}.pb", k)));
      std::vector<at::Tensor> got = exec.run(inputs);
      for (size_t k = 0; k < got.size() && k < expected.size(); ++k)
        if (got[k].scalar_type() == at::kBFloat16 && expected[k].scalar_type() == at::kInt) got[k] = bits_of_bfloat16(got[k]);
      if (got.size() != expected.size()) return {"wrong", fmt::format("{} outputs, expected {}", got.size(), expected.size())};
      for (size_t k = 0; k < got.size(); ++k) {
        const std::string d = difference(got[k], expected[k]);
        if (!d.empty()) return {"wrong", fmt::format("{} output {}: {}", set.filename().string(), k, d)};
      }
    }
    return {"pass", ""};
  } catch (const InputError& e) {
    const std::string what = e.what();
    static const std::regex op(R"(unsupported op (\S+))");
    std::smatch m;
    if (std::regex_search(what, m, op)) return {"unsupported op", m[1]};
    static const std::regex type(R"(element type \S+ is not supported)");
    if (std::regex_search(what, type)) return {"unsupported type", what};
    return {"refused", what};
  } catch (const std::exception& e) {
    return {"error", e.what()};
  }
}

}  // namespace

TEST_SUITE("onnx-node") {

TEST_CASE("ONNX's operator test suite: no wrong result, no error; counts by class") {
  const std::string root = node_suite_dir();
  if (root.empty()) {
    if (in_ci()) FAIL("libonnx-testdata is missing (CI=true requires it): run scripts/setup.sh");
    MESSAGE("skipped: /usr/share/libonnx-testdata/data/node is absent (apt-get install libonnx-testdata)");
    return;
  }
  const std::map<std::string, std::string> known = known_differences();
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() > 100);

  std::map<std::string, int> counts, missing_ops;
  std::vector<std::string> failures, stale;
  for (const fs::path& dir : cases) {
    const std::string name = dir.filename().string();
    Outcome o = run_case(dir);
    const bool listed = known.count(name) != 0;
    if (listed && o.kind == "wrong") o.kind = "known";
    if (listed && o.kind != "known") stale.push_back(fmt::format("{} ({})", name, o.kind));
    ++counts[o.kind];
    if (std::getenv("EDGEPACK_ONNX_NODE_VERBOSE") && o.kind != "pass") fmt::print("{}: {}: {}\n", name, o.kind, o.detail);
    if (o.kind == "unsupported op") ++missing_ops[o.detail];
    if (o.kind == "wrong" || o.kind == "error") failures.push_back(fmt::format("{}: {}: {}", name, o.kind, o.detail));
  }
  const int total = static_cast<int>(cases.size());
  std::string table = fmt::format("ONNX node suite ({} cases, {}):\n", total, root);
  for (const char* kind : {"pass", "unsupported op", "unsupported type", "refused", "known", "wrong", "error"})
    table += fmt::format("  {:<17} {:>4}  ({:.1f}%)\n", kind, counts[kind], 100.0 * counts[kind] / total);
  std::vector<std::pair<int, std::string>> ops;
  for (const auto& [op, n] : missing_ops) ops.push_back({-n, op});
  std::sort(ops.begin(), ops.end());
  std::string list;
  for (const auto& [n, op] : ops) list += fmt::format("{}{} {}", list.empty() ? "" : ", ", op, -n);
  table += fmt::format("  unsupported op types: {}\n", list.empty() ? "none" : list);
  MESSAGE(table);
  fmt::print("{}", table);
  for (const std::string& f : failures) FAIL_CHECK(f);
  for (const std::string& s : stale)
    FAIL_CHECK(fmt::format("listed in tests/onnx_node_known_differences.txt but not a wrong result now: {}", s));
  CHECK(counts["pass"] > 0);
}

TEST_CASE("every Resize case of the suite we run (each coordinate, nearest and cubic mode) agrees with onnxruntime too") {
  const std::string root = node_suite_dir();
  if (root.empty()) return;   // the case above says why
  SKIP_WITHOUT_ONNXRUNTIME();
  std::vector<OrtJob> jobs;
  std::vector<std::vector<at::Tensor>> ours;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("test_resize_", 0) != 0) continue;
    try {
      const Model model = import_onnx((e.path() / "model.onnx").string());
      Executor exec(model);
      OrtJob job{(e.path() / "model.onnx").string(), {}};
      std::vector<at::Tensor> inputs;
      const auto runtime = model.graph.runtime_inputs();
      for (size_t k = 0; k < runtime.size(); ++k) {
        inputs.push_back(read_tensor(e.path() / "test_data_set_0" / fmt::format("input_{}.pb", k)));
        job.inputs.push_back({runtime[k]->name, inputs.back()});
      }
      ours.push_back(exec.run(inputs));
      jobs.push_back(std::move(job));
      names.push_back(name);
    } catch (const InputError&) {
      // Refused (cubic antialias and the like): the case above counts it.
    }
  }
  REQUIRE(jobs.size() >= 20);   // tf_crop_and_resize is refused (counted above)
  const auto ort = run_onnxruntime(jobs);
  int agree = 0, compared = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    CAPTURE(names[i]);
    if (!ort[i].error.empty()) continue;   // onnxruntime refuses some opset-18+ attributes
    // Downsampling with scales under align_corners: ONNX's reference divides by in * scale - 1
    // (2.4 - 1 for 4 x 0.6; "intended behavior", onnx/onnx#2462), onnxruntime by the floored
    // output size. We follow the spec's reference, so the two differ here by design.
    if (names[i].find("downsample_scales") != std::string::npos && names[i].find("align_corners") != std::string::npos)
      continue;
    // Tolerance: both runtimes compute coordinates in float; 1e-4 absolute on values of order 1-16.
    const bool same = ort[i].outputs.at(0).sizes() == ours[i].at(0).sizes() &&
                      at::allclose(ort[i].outputs.at(0).to(at::kDouble), ours[i].at(0).to(at::kDouble), 1e-4, 1e-4);
    CHECK_MESSAGE(same, names[i]);
    agree += same;
    ++compared;
  }
  MESSAGE(fmt::format("{} of {} Resize cases compared agree with onnxruntime", agree, compared));
}

}  // TEST_SUITE
