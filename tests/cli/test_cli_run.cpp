// `edgepack run` end to end, and the bad inputs every command must refuse with one line on
// stderr and exit code 2.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

// One line, prefixed, no stack trace.
void check_clean_error(const CliResult& r, int code, const std::string& fragment) {
  CAPTURE(r.err);
  CHECK(r.exit_code == code);
  CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(fragment) != std::string::npos);
}

// The tiny model with one node replaced by `op` (in `domain`).
void write_model_with_op(const fs::path& path, const std::string& op, const std::string& domain) {
  Model m = tiny_conv_model();
  m.graph.nodes[1].op_type = op;
  m.graph.nodes[1].domain = domain;
  m.graph.nodes[1].name = "mystery";
  if (!domain.empty()) m.opsets[domain] = 1;
  onnx::ModelProto proto;
  export_onnx(m, &proto);
  write_file_atomic(path.string(), proto.SerializeAsString());
}

}  // namespace

TEST_SUITE("cli") {

TEST_CASE("run binds inputs, prints outputs and saves them as TensorProto files") {
  TempDir tmp;
  Model m = tiny_conv_model();
  save_onnx(m, (tmp / "tiny.onnx").string());
  at::Tensor x = at::randn({1, 3, 8, 8});
  write_tensor_file((tmp / "x.pb").string(), x, "X");
  for (const std::string& bind : {q(tmp / "x.pb"), "X=" + q(tmp / "x.pb")}) {
    CliResult r = run_cli(fmt::format("run {} --input {} --save-outputs {}", q(tmp / "tiny.onnx"), bind, q(tmp / "out")));
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("Y Float [1x4x8x8]") != std::string::npos);
    at::Tensor y = read_tensor_file((tmp / "out" / "output_0.pb").string());
    at::Tensor ref = at::relu(at::conv2d(x, m.graph.initializers.at("W"), m.graph.initializers.at("B"), 1, 1));
    CHECK(all_close(y, ref, 1e-5, 1e-6));
  }
}

TEST_CASE("bench: JSON fields, the interleaved ratio of --compare, a table for people; bad options are one line, exit 2") {
  TempDir tmp;
  const std::string a = (tmp / "a.onnx").string(), b = (tmp / "b.onnx").string();
  save_onnx(tiny_conv_model(), a);
  save_onnx(tiny_conv_model(2, 3, 16), b);
  CliResult r = run_cli(fmt::format("bench {} --compare {} --warmup 1 --repeat 3 --json", q(a), q(b)));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["repeat"] == 3);
  CHECK(j["threads"].get<int>() >= 1);
  REQUIRE(j["models"].size() == 2);
  for (const auto& m : j["models"]) {
    CHECK(m["times_ms"].size() == 3);
    CHECK(m["batch"] == 1);
    CHECK(m["median_ms"].get<double>() > 0);
    CHECK(m["min_ms"].get<double>() <= m["median_ms"].get<double>());
  }
  CHECK(j["models"][0]["speedup_vs_first"].get<double>() == 1.0);
  CHECK(j["models"][1]["weight_bytes"] == (16 * 3 * 9 + 16) * 4);
  CHECK(j["models"][1]["speedup_vs_first"].get<double>() ==
        doctest::Approx(j["models"][0]["median_ms"].get<double>() / j["models"][1]["median_ms"].get<double>()));

  r = run_cli(fmt::format("-q bench {} --compare {} --repeat 2", q(a), q(b)));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("batch 1, ") != std::string::npos);
  CHECK(r.out.find("samples/s") != std::string::npos);
  CHECK((r.out.find("x faster") != std::string::npos || r.out.find("x slower") != std::string::npos));
  CHECK(r.err.empty());

  // --threads after the subcommand, and usage that names the program, not its path.
  r = run_cli(fmt::format("bench {} --repeat 1 --threads 1 --json", q(a)));
  CHECK(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["threads"] == 1);
  CHECK(run_cli("bench --help").out.find("Usage: edgepack bench") != std::string::npos);

  check_clean_error(run_cli(fmt::format("bench {} --repeat 0", q(a))), 2, "--repeat");
  check_clean_error(run_cli(fmt::format("bench {} --batch 4", q(a))), 2, "fixed batch of 1; --batch 4");
  check_clean_error(run_cli(fmt::format("bench {}", q((tmp / "missing.onnx").string()))), 2, "missing.onnx");
}

TEST_CASE("run --json: each output's name, type, shape, first values and range; a UINT16 output is saved as UINT16") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");
  CliResult r = run_cli(fmt::format("run {} --input {} --show 3 --json --save-outputs {}", q(tmp / "tiny.onnx"), q(tmp / "x.pb"), q(tmp / "out")));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["outputs"].size() == 1);
  const auto& y = j["outputs"][0];
  CHECK(y["name"] == "Y");
  CHECK(y["type"] == "FLOAT");
  CHECK(y["shape"] == nlohmann::json::array({1, 4, 8, 8}));
  CHECK(y["first"].size() == 3);
  const at::Tensor saved = read_tensor_file((tmp / "out" / "output_0.pb").string());
  CHECK(y["first"][0].get<double>() == doctest::Approx(saved.reshape({-1})[0].item<double>()));
  CHECK(y["min"].get<double>() == doctest::Approx(saved.min().item<double>()));
  CHECK(y["max"].get<double>() == doctest::Approx(saved.max().item<double>()));
  CHECK(y["min"].get<double>() <= y["mean"].get<double>());

  // Cast(X -> UINT16): held widened in int32, written back as UINT16.
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(float_value("X", {Dim{3, ""}}));
  m.graph.outputs.push_back(ValueInfo{"Y", onnx::TensorProto::UINT16, std::vector<Dim>{Dim{3, ""}}});
  Node cast = make_node("Cast", {"X"}, "Y");
  cast.attrs["to"] = Attribute::of_int(onnx::TensorProto::UINT16);
  m.graph.nodes.push_back(cast);
  save_onnx(m, (tmp / "cast.onnx").string());
  write_tensor_file((tmp / "v.pb").string(), at::tensor({1.5f, 70000.f, 3.f}), "X");
  r = run_cli(fmt::format("run {} --input {} --json --save-outputs {}", q(tmp / "cast.onnx"), q(tmp / "v.pb"), q(tmp / "cast_out")));
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["outputs"][0]["type"] == "UINT16");
  onnx::TensorProto proto;
  REQUIRE(proto.ParseFromString(read_file((tmp / "cast_out" / "output_0.pb").string(), "tensor")));
  CHECK(proto.data_type() == onnx::TensorProto::UINT16);
  CHECK(read_tensor_file((tmp / "cast_out" / "output_0.pb").string()).equal(at::tensor({1, 4464, 3}, at::kInt)));   // 70000 mod 2^16
}

TEST_CASE("a mistyped flag gets a 'did you mean', from the subcommand's flags and the global ones") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  check_clean_error(run_cli(fmt::format("quantize {} -o {} --calibration entropy", q(tmp / "tiny.onnx"), q(tmp / "q.onnx"))), 2,
                    "(did you mean '--calib'?)");
  check_clean_error(run_cli(fmt::format("prune {} -o {} --ration 0.3", q(tmp / "tiny.onnx"), q(tmp / "p.onnx"))), 2,
                    "(did you mean '--ratio'?)");
  check_clean_error(run_cli(fmt::format("inspect {} --threds 2", q(tmp / "tiny.onnx"))), 2, "(did you mean '--threads'?)");
  const CliResult far = run_cli(fmt::format("inspect {} --zzzzzz", q(tmp / "tiny.onnx")));
  CHECK(far.exit_code == 2);
  CHECK(far.err.find("did you mean") == std::string::npos);   // nothing close: no guess
}

TEST_CASE("bad model files: missing, empty, not ONNX, truncated") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");
  std::string model = read_file((tmp / "tiny.onnx").string(), "model");
  write_text(tmp / "empty.onnx", "");
  write_text(tmp / "text.onnx", "this is not a model\n");
  write_text(tmp / "truncated.onnx", model.substr(0, model.size() / 2));
  const std::string in = " --input " + q(tmp / "x.pb");
  check_clean_error(run_cli("run " + q(tmp / "missing.onnx") + in), 2, "cannot open model");
  check_clean_error(run_cli("run " + q(tmp / "empty.onnx") + in), 2, "is empty");
  check_clean_error(run_cli("run " + q(tmp / "text.onnx") + in), 2, "not an ONNX model");
  CliResult truncated = run_cli("run " + q(tmp / "truncated.onnx") + in);
  check_clean_error(truncated, 2, "truncated.onnx");
}

TEST_CASE("unsupported ops are named with their node") {
  TempDir tmp;
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");
  write_model_with_op(tmp / "custom.onnx", "FancyOp", "com.example");
  check_clean_error(run_cli("run " + q(tmp / "custom.onnx") + " --input " + q(tmp / "x.pb")), 2,
                    "unsupported op com.example::FancyOp (node 'mystery')");
  write_model_with_op(tmp / "lpnorm.onnx", "LpNormalization", "");
  check_clean_error(run_cli("run " + q(tmp / "lpnorm.onnx") + " --input " + q(tmp / "x.pb")), 2,
                    "unsupported op LpNormalization (node 'mystery')");
}

TEST_CASE("input files of the wrong shape or type, or missing, are refused") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  write_tensor_file((tmp / "shape.pb").string(), at::randn({1, 3, 9, 8}), "X");
  write_tensor_file((tmp / "type.pb").string(), at::ones({1, 3, 8, 8}, at::kLong), "X");
  write_text(tmp / "junk.pb", std::string("\xff\xff\xff\xff garbage", 12));
  const std::string model = "run " + q(tmp / "tiny.onnx");
  check_clean_error(run_cli(model + " --input " + q(tmp / "shape.pb")), 2, "shape [1,3,9,8]");
  check_clean_error(run_cli(model + " --input " + q(tmp / "type.pb")), 2, "INT64");
  check_clean_error(run_cli(model + " --input " + q(tmp / "junk.pb")), 2, "TensorProto");
  check_clean_error(run_cli(model + " --input " + q(tmp / "none.pb")), 2, "cannot open tensor file");
  check_clean_error(run_cli(model + " --input Z=" + q(tmp / "shape.pb")), 2, "no input named 'Z'");
}

TEST_CASE("run --save-outputs refuses to write over an input tensor or the model") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  fs::create_directories(tmp / "out");
  const at::Tensor x = at::randn({1, 3, 8, 8});
  write_tensor_file((tmp / "out" / "output_0.pb").string(), x, "X");
  const std::string before = read_file((tmp / "out" / "output_0.pb").string(), "t");
  // The previous run's output fed back in, saving into the same folder: output_0.pb is the input.
  check_clean_error(run_cli("run " + q(tmp / "tiny.onnx") + " --input " + q(tmp / "out" / "output_0.pb") +
                            " --save-outputs " + q(tmp / "out")), 2, "refusing to write over the input tensor");
  CHECK(read_file((tmp / "out" / "output_0.pb").string(), "t") == before);
  // Also through another spelling of the folder (a symlink).
  fs::create_directory_symlink(tmp / "out", tmp / "alias");
  check_clean_error(run_cli("run " + q(tmp / "tiny.onnx") + " --input X=" + q(tmp / "out" / "output_0.pb") +
                            " --save-outputs " + q(tmp / "alias")), 2, "refusing to write over the input tensor");
  CHECK(read_file((tmp / "out" / "output_0.pb").string(), "t") == before);
  // The model itself named output_0.pb.
  fs::create_directories(tmp / "m");
  fs::copy_file(tmp / "tiny.onnx", tmp / "m" / "output_0.pb");
  write_tensor_file((tmp / "x.pb").string(), x, "X");
  check_clean_error(run_cli("run " + q(tmp / "m" / "output_0.pb") + " --input " + q(tmp / "x.pb") +
                            " --save-outputs " + q(tmp / "m")), 2, "refusing to write over the input model");
  CHECK(read_file((tmp / "m" / "output_0.pb").string(), "t") == read_file((tmp / "tiny.onnx").string(), "t"));
}

TEST_CASE("an unwritable output folder is a clear error") {
  TempDir tmp;
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");
  fs::create_directories(tmp / "ro");
  fs::permissions(tmp / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() == 0) {
    MESSAGE("running as root: permissions do not bind; checking a path under a file instead");
    write_text(tmp / "file", "x");
    check_clean_error(run_cli("run " + q(tmp / "tiny.onnx") + " --input " + q(tmp / "x.pb") + " --save-outputs " +
                              q(tmp / "file" / "out")), 1, "cannot create");
    return;
  }
  check_clean_error(run_cli("run " + q(tmp / "tiny.onnx") + " --input " + q(tmp / "x.pb") + " --save-outputs " +
                            q(tmp / "ro")), 1, "cannot write");
}

}  // TEST_SUITE
