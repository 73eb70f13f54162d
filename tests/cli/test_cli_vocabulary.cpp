// What people read: one vocabulary for pass options and CLI flags (the README's table "Pass
// options on the command line" against `edgepack passes --json` and each command's --help), "did
// you mean" for a mistyped choice value, and every command's human output for one fixed model
// (counts as integers, no exponents, plurals right).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "core/npy.h"
#include "core/onnx_export.h"
#include "core/tensor_proto.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;
using nlohmann::json;

namespace {

struct Row {
  std::string pass, command;
  std::vector<std::string> options, flags;   // flags empty: pipeline only
};

std::vector<std::string> backticked(const std::string& cell) {
  std::vector<std::string> out;
  static const std::regex word("`([^`]+)`");
  for (auto it = std::sregex_iterator(cell.begin(), cell.end(), word); it != std::sregex_iterator(); ++it) out.push_back((*it)[1]);
  return out;
}

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '|') out.push_back(cell), cell.clear();
    else cell += line[i];
  }
  return out;
}

std::vector<Row> readme_rows() {
  std::ifstream in(fs::path(EDGEPACK_SOURCE_DIR) / "README.md");
  std::vector<Row> rows;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("### Pass options on the command line", 0) == 0) inside = true;
    else if (inside && line.rfind("#", 0) == 0) break;
    else if (inside && line.rfind("| `", 0) == 0) {
      const std::vector<std::string> c = cells(line);
      REQUIRE(c.size() == 4);
      Row r{backticked(c[0]).at(0), backticked(c[3]).at(0), backticked(c[1]), backticked(c[2])};
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace

TEST_SUITE("cli") {

TEST_CASE("the README's table of pass options and flags covers every option, and each flag is in its command's --help") {
  const std::vector<Row> rows = readme_rows();
  REQUIRE(rows.size() >= 6);
  CliResult passes = run_cli("passes --json");
  REQUIRE(passes.exit_code == 0);
  std::map<std::string, std::set<std::string>> declared, listed;
  for (const json& p : json::parse(passes.out))
    for (const json& o : p["options"]) declared[p["name"]].insert(o["name"].get<std::string>());
  std::map<std::string, std::string> help;
  for (const Row& r : rows) {
    CAPTURE(r.pass);
    for (const std::string& o : r.options) {
      CAPTURE(o);
      CHECK(declared[r.pass].count(o) == 1);   // a real option of that pass
      CHECK(listed[r.pass].insert(o).second);  // listed once
    }
    if (r.flags.empty()) continue;              // pipeline only
    REQUIRE(r.flags.size() == r.options.size());
    const std::string command = r.command.substr(0, r.command.find(' '));
    if (!help.count(command)) {
      const CliResult h = run_cli(command + " --help");
      REQUIRE(h.exit_code == 0);
      help[command] = h.out;
    }
    for (const std::string& f : r.flags) {
      CAPTURE(f);
      CHECK(std::regex_search(help[command], std::regex("[ ,]" + f + "([ ,=]|$)")));
    }
  }
  // Every pass that has options and a command is in the table, option for option.
  for (const char* pass : {"quantize", "quantize-weights", "prune", "finetune", "distill"}) {
    CAPTURE(pass);
    CHECK(listed[pass] == declared[pass]);
  }
}

TEST_CASE("a mistyped choice names the flag, the choices and the closest one, for pass options and command choices") {
  TempDir tmp;
  const CliResult calib = run_cli(fmt::format("quantize {} -o {} --data {} --calib entrpy", q(tmp / "m.onnx"), q(tmp / "o.onnx"),
                                              q(tmp / "d.npz")));
  CAPTURE(calib.err);
  CHECK(calib.exit_code == 2);
  CHECK(calib.err.find("--calib") != std::string::npos);
  CHECK(calib.err.find("one of minmax|percentile|entropy|mse") != std::string::npos);
  CHECK(calib.err.find("(did you mean 'entropy'?)") != std::string::npos);
  CHECK(calib.err.find("pipeline column") == std::string::npos);   // no pipeline was written
  CHECK_FALSE(fs::exists(tmp / "o.onnx"));

  const CliResult weights = run_cli(fmt::format("quantize {} -o {} --weights in4", q(tmp / "m.onnx"), q(tmp / "o.onnx")));
  CAPTURE(weights.err);
  CHECK(weights.exit_code == 2);
  CHECK(weights.err.find("--weights") != std::string::npos);
  CHECK(weights.err.find("did you mean 'int4'") != std::string::npos);

  const CliResult metric = run_cli(fmt::format("eval {} --data {} --metric sqrn", q(tmp / "m.onnx"), q(tmp / "d.npz")));
  CAPTURE(metric.err);
  CHECK(metric.exit_code == 2);
  CHECK(metric.err.find("did you mean 'sqnr'") != std::string::npos);
  // In a pipeline, the same mistake gets the column too.
  const CliResult pipeline = run_cli(fmt::format("compress {} --target qcs2290 --data {} --out {} --pipeline 'quantize{{calib=entrpy}}'",
                                                 q(tmp / "m.onnx"), q(tmp / "d.npz"), q(tmp / "out")));
  CAPTURE(pipeline.err);
  CHECK(pipeline.exit_code == 2);
  CHECK(pipeline.err.find("did you mean 'entropy'") != std::string::npos);
}

TEST_CASE("human output of every command for one fixed model: counts as integers, no exponents, plurals right") {
  TempDir tmp;
  Model net = residual_net();   // conv, BN, residual Add, Gemm: 5 classes
  randomize_weights(net, 3);
  save_onnx(net, (tmp / "fp.onnx").string());
  at::manual_seed(5);
  write_npz((tmp / "train.npz").string(), {{"X", at::randn({16, 3, 8, 8})}, {"labels", at::randint(0, 5, {16}, at::kLong)}});
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");
  const std::string fp = q(tmp / "fp.onnx"), data = q(tmp / "train.npz");
  // A count printed as a float ("2.0") that no unit follows; "4.0 KiB" is a size.
  // Not a version (0.1.0) or a percentage (100.0%).
  const std::regex float_count(R"((^|[^0-9.])[0-9]+\.0\b(?!\.|%| ?(B|KiB|MiB|GiB|x|ms|us|s|dB|points)\b))"),
      exponent(R"([0-9]e[+-][0-9])");
  const std::regex one_plural(R"(\b1 (epochs|samples|targets|gates|layers|runs|threads|weights|steps|files|inputs|outputs|nodes|images|batches|stages|channels)\b)");
  const std::vector<std::string> commands = {
      fmt::format("inspect {}", fp),
      fmt::format("inspect {} --target qcs2290", fp),
      fmt::format("run {} --input {}", fp, q(tmp / "x.pb")),
      fmt::format("bench {} --repeat 3 --compare {}", fp, fp),
      fmt::format("eval {} --data {} --reference {}", fp, data, fp),
      fmt::format("quantize {} -o {} --data {} --calib-samples 1 --batch-size 1", fp, q(tmp / "q.onnx"), data),
      fmt::format("quantize {} -o {} --data {} --sensitivity", fp, q(tmp / "qs.onnx"), data),
      fmt::format("prune {} -o {} --ratio 0.5 --data {} --finetune-epochs 1", fp, q(tmp / "p.onnx"), data),
      fmt::format("distill {} -o {} --data {} --epochs 1 --shrink 0.5", fp, q(tmp / "s.onnx"), data),
      fmt::format("compress {} --target qcs2290 --data {} --out {} --host-repeat 1 --min-sqnr 1", fp, data, q(tmp / "c")),
      fmt::format("report {}", q(tmp / "c")),
      "targets",
      "passes"};
  for (const std::string& args : commands) {
    CAPTURE(args);
    const CliResult r = run_cli(args);
    CAPTURE(r.out);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string text = r.out + r.err;   // stderr carries the progress and log lines
    std::smatch m;
    if (std::regex_search(text, m, float_count)) FAIL_CHECK("a count printed as a float: " << m.str());
    if (std::regex_search(text, m, exponent)) FAIL_CHECK("an exponent: " << m.str());
    if (std::regex_search(text, m, one_plural)) FAIL_CHECK("a singular in the plural: " << m.str());
    CHECK_FALSE(std::regex_search(text, std::regex(R"(\b(nan|inf)\b)", std::regex::icase)));
  }
}

}  // TEST_SUITE
