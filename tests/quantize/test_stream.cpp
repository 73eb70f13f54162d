// Models larger than RAM: external data written streamed and committed with the model, mapped
// (not read) on import, and streaming weight-only quantization whose memory follows one layer.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/file_util.h"
#include "core/mapped_file.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "quantize/quantize_weights.h"
#include "quantize/stream_quantize.h"
#include "tests/helpers.h"
#include "tests/large_model.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

onnx::ModelProto read_proto(const fs::path& path) {
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_file(path.string(), "model")));
  return proto;
}

std::set<std::string> folder_entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Runs the CLI with `args` (no shell) and returns its peak resident set in bytes (-1 when it
// did not exit 0). Counts mapped file pages too: that is what a mapping-based import must keep low.
int64_t peak_rss_of_cli(const std::vector<std::string>& args) {
  std::vector<char*> argv{const_cast<char*>(EDGEPACK_BINARY)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::freopen("/dev/null", "w", stdout);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

// Resident set of this process now, in bytes (mapped file pages included).
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

at::Tensor run_mlp(const fs::path& model, const at::Tensor& x) {
  return Executor(import_onnx(model.string())).run(std::vector<at::Tensor>{x})[0];
}

}  // namespace

TEST_SUITE("stream") {

TEST_CASE("external data: large initializers go to <model>.data page-aligned, import maps them, outputs equal") {
  TempDir tmp;
  const fs::path path = tmp / "mlp.onnx";
  write_mlp_model(path.string(), 3, 256, 7);   // 256 KiB per weight
  CHECK(folder_entries(tmp.path()) == std::set<std::string>{"mlp.onnx", "mlp.onnx.data"});
  CHECK(fs::file_size(path) < 4096);           // the graph only
  const onnx::ModelProto proto = read_proto(path);
  for (const auto& t : proto.graph().initializer()) {
    CHECK(t.data_location() == onnx::TensorProto::EXTERNAL);
    CHECK(!t.has_raw_data());
    for (const auto& kv : t.external_data())
      if (kv.key() == "offset") CHECK(std::stoll(kv.value()) % 4096 == 0);
  }

  Model m = import_onnx(path.string());
  for (const auto& [name, w] : m.graph.initializers) {
    CHECK_MESSAGE(is_mapped(w), name);
    at::manual_seed(7 + std::stoi(name.substr(2)));
    CHECK(w.equal(at::randn({256, 256}) * std::sqrt(2.0 / 256)));
  }
  // Re-saved inline (below the threshold) and as external data again: the same outputs.
  at::manual_seed(3);
  at::Tensor x = at::randn({4, 256});
  at::Tensor y = Executor(m).run(std::vector<at::Tensor>{x})[0];
  save_onnx(m, (tmp / "inline.onnx").string());
  save_onnx(m, (tmp / "ext.onnx").string(), SaveOptions{64 * 1024, nullptr});
  CHECK(!fs::exists(tmp / "inline.onnx.data"));
  CHECK(fs::exists(tmp / "ext.onnx.data"));
  for (const char* name : {"inline.onnx", "ext.onnx"}) {
    Model again = import_onnx((tmp / name).string());
    CHECK_MESSAGE(Executor(again).run(std::vector<at::Tensor>{x})[0].equal(y), name);
  }
}

TEST_CASE("external data: importing a 64 MiB model leaves its weights on disk until they are used") {
  TempDir tmp;
  write_mlp_model((tmp / "m.onnx").string(), 16, 1024);
  ::malloc_trim(0);   // the generator's freed buffers would otherwise leave during the import
  const int64_t before = resident_bytes();
  Model m = import_onnx((tmp / "m.onnx").string());
  const int64_t after_import = resident_bytes();
  MESSAGE(fmt::format("resident: +{:.1f} MiB after importing 64 MiB of weights", (after_import - before) / 1048576.0));
  CHECK(after_import - before < 8 * 1024 * 1024);
  // Reading one weight brings in that weight only.
  CHECK(m.graph.initializers.at("fc3.weight").sum().item<float>() != 0);
  CHECK(resident_bytes() - after_import < 8 * 1024 * 1024);
}

TEST_CASE("external data: a mapped weight changed in place stays private; the file keeps its bytes") {
  TempDir tmp;
  write_mlp_model((tmp / "m.onnx").string(), 1, 256);
  Model a = import_onnx((tmp / "m.onnx").string());
  at::Tensor w = a.graph.initializers.at("fc0.weight");
  REQUIRE(is_mapped(w));
  at::Tensor before = w.clone();
  w.mul_(2);   // copy-on-write
  CHECK(w.equal(before * 2));
  Model b = import_onnx((tmp / "m.onnx").string());
  CHECK(b.graph.initializers.at("fc0.weight").equal(before));
}

TEST_CASE("external data: small tensors are read, a tensor past the file's end or misdeclared is refused") {
  TempDir tmp;
  write_mlp_model((tmp / "m.onnx").string(), 2, 64);   // 16 KiB weights: below kMinMappedBytes, read
  Model m = import_onnx((tmp / "m.onnx").string());
  CHECK(!is_mapped(m.graph.initializers.at("fc0.weight")));
  // Truncate the data file: the second weight now lies past its end.
  fs::resize_file(tmp / "m.onnx.data", fs::file_size(tmp / "m.onnx.data") - 1);
  CHECK_THROWS_WITH_AS(import_onnx((tmp / "m.onnx").string()), doctest::Contains("shorter than declared"), InputError);
}

TEST_CASE("external data writer: appended tensors are not written twice; a replaced one is saved as it is now") {
  TempDir tmp;
  const std::string path = (tmp / "m.onnx").string();
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(float_value("X", {Dim{1, ""}, Dim{128, ""}}));
  m.graph.nodes.push_back(make_node("MatMul", {"X", "A"}, "XA"));
  m.graph.nodes.push_back(make_node("MatMul", {"XA", "B"}, "Y"));
  m.graph.outputs.push_back(float_value("Y", {Dim{1, ""}, Dim{128, ""}}));
  ExternalDataWriter data(path);
  m.graph.initializers["A"] = data.append("A", at::ones({128, 128}));
  m.graph.initializers["B"] = data.append("B", at::ones({128, 128}));
  CHECK(is_mapped(m.graph.initializers["A"]));
  CHECK(data.bytes() == 4096 * 16 + 128 * 128 * 4);
  m.graph.initializers["B"] = at::full({128, 128}, 2.0f);   // no longer what was appended
  save_onnx(m, path, SaveOptions{-1, &data});
  // A stays where it was appended; B, small and without a threshold, goes inline.
  CHECK(fs::file_size(tmp / "m.onnx.data") == 4096 * 32);
  const onnx::ModelProto proto = read_proto(path);
  for (const auto& t : proto.graph().initializer())
    CHECK(t.data_location() == (t.name() == "A" ? onnx::TensorProto::EXTERNAL : onnx::TensorProto::DEFAULT));
  Model back = import_onnx(path);
  CHECK(back.graph.initializers.at("A").equal(at::ones({128, 128})));
  CHECK(back.graph.initializers.at("B").equal(at::full({128, 128}, 2.0f)));
}

TEST_CASE("external data: a model failing onnx::checker leaves neither file nor a temporary") {
  TempDir tmp;
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(float_value("X", {Dim{1, ""}, Dim{128, ""}}));
  m.graph.nodes.push_back(make_node("NoSuchOp", {"X", "A"}, "Y"));
  m.graph.outputs.push_back(float_value("Y", {Dim{1, ""}, Dim{128, ""}}));
  m.graph.initializers["A"] = at::ones({128, 128});
  CHECK_THROWS_WITH_AS(save_onnx(m, (tmp / "m.onnx").string(), SaveOptions{0, nullptr}),
                       doctest::Contains("fails onnx::checker"), Error);
  CHECK(folder_entries(tmp.path()).empty());
}

TEST_CASE("AtomicFileWriter: nothing under the name until commit; an abandoned writer leaves nothing") {
  TempDir tmp;
  const std::string path = (tmp / "f.bin").string();
  write_text(path, "old");
  {
    AtomicFileWriter w(path);
    w.write("abc", 3);
    w.pad_to(8);
    CHECK(w.size() == 8);
    CHECK(read_file(path, "file") == "old");
  }
  CHECK(folder_entries(tmp.path()) == std::set<std::string>{"f.bin"});
  AtomicFileWriter w(path);
  w.write("new", 3);
  const std::string staged = w.stage();
  CHECK(read_file(staged, "file") == "new");
  w.commit();
  CHECK(read_file(path, "file") == "new");
  CHECK(folder_entries(tmp.path()) == std::set<std::string>{"f.bin"});
}

TEST_CASE("stream quantize: the output equals the quantize-weights pass's bitwise (INT8 per channel, INT4 group 128)") {
  TempDir tmp;
  const fs::path fp32 = tmp / "mlp.onnx";
  write_mlp_model(fp32.string(), 4, 512, 5);
  at::manual_seed(2);
  const at::Tensor x = at::randn({8, 512});
  const at::Tensor ref = run_mlp(fp32, x);
  // Tolerances: cosine of the outputs against FP32 after 4 layers (INT8 per channel 0.999; INT4 group
  // 128, whose step is ~1/7 of a group's max|w| on Gaussian weights, 0.95).
  for (const auto& run : std::vector<std::pair<std::string, double>>{{"bits=8", 0.999}, {"bits=4 group=128", 0.95}}) {
    const std::string options = run.first;   // not a structured binding: CAPTURE's lambda captures it
    const double min_cosine = run.second;
    CAPTURE(options);
    const fs::path streamed = tmp / "s.onnx", whole = tmp / "m.onnx";
    const Pipeline pipeline = parse_pipeline("quantize-weights{" + options + "}");
    StreamQuantizeOptions stream_options;
    stream_options.settings = weight_only_settings(quantize_weights_options().parse(pipeline.at(0).options));
    std::vector<std::pair<int64_t, int64_t>> progress;
    stream_options.progress = [&](const std::string& task, int64_t done, int64_t total, const std::string&) {
      CHECK(task == "weights");
      progress.push_back({done, total});
    };
    StreamQuantizeResult r = stream_quantize_weights(fp32.string(), streamed.string(), stream_options);
    CHECK(progress == std::vector<std::pair<int64_t, int64_t>>{{1, 4}, {2, 4}, {3, 4}, {4, 4}});   // weight i of n
    // The in-memory pass on the same file, saved whole.
    Model in_memory = import_onnx(fp32.string());
    PassContext ctx;
    run_pipeline(in_memory, pipeline, ctx);
    save_onnx(in_memory, whole.string());
    CHECK(r.weights == 4);
    CHECK(r.weight_bytes_in == 4 * 512 * 512 * 4);
    CHECK(r.largest_weight_bytes == 512 * 512 * 4);
    CHECK(fs::exists(tmp / "s.onnx.data"));
    CHECK(!fs::exists(tmp / "m.onnx.data"));

    Model s = import_onnx(streamed.string()), m = import_onnx(whole.string());
    // Structure: every MatMul weight is int8 (int4 in the file) behind a DequantizeLinear; no float weight is left.
    std::map<std::string, int> ops;
    for (const Node& n : s.graph.nodes) ++ops[n.op_type];
    CHECK(ops["DequantizeLinear"] == 4);
    CHECK(ops["MatMul"] == 4);
    int quantized = 0;
    for (const auto& [name, t] : s.graph.initializers) quantized += t.scalar_type() == at::kChar;
    CHECK(quantized == 4);
    CHECK(s.opset() == m.opset());
    CHECK(s.ir_version == m.ir_version);
    // Bitwise the same graph and tensors as the in-memory pass.
    REQUIRE(s.graph.nodes.size() == m.graph.nodes.size());
    for (size_t i = 0; i < s.graph.nodes.size(); ++i) {
      CHECK(s.graph.nodes[i].op_type == m.graph.nodes[i].op_type);
      CHECK(s.graph.nodes[i].inputs == m.graph.nodes[i].inputs);
      CHECK(s.graph.nodes[i].attrs.size() == m.graph.nodes[i].attrs.size());
      for (const char* attr : {"axis", "block_size"})
        if (m.graph.nodes[i].has(attr)) CHECK(s.graph.nodes[i].attr_int(attr, -1) == m.graph.nodes[i].attr_int(attr, -1));
    }
    REQUIRE(s.graph.initializers.size() == m.graph.initializers.size());
    for (const auto& [name, t] : s.graph.initializers) {
      REQUIRE(m.graph.initializers.count(name));
      CHECK_MESSAGE((t.scalar_type() == m.graph.initializers.at(name).scalar_type()), name);
      CHECK_MESSAGE(t.equal(m.graph.initializers.at(name)), name);
      const ValueInfo *st = s.graph.find_value(name), *mt = m.graph.find_value(name);
      CHECK_MESSAGE((st ? st->elem_type : 0) == (mt ? mt->elem_type : 0), name);
    }
    // Numerics: the same outputs as the in-memory model, close to FP32.
    at::Tensor y = run_mlp(streamed, x);
    CHECK(y.equal(run_mlp(whole, x)));
    const double cosine = at::cosine_similarity(y.flatten(), ref.flatten(), 0).item<double>();
    MESSAGE(fmt::format("{}: cosine to FP32 {:.6f}", options, cosine));
    CHECK(cosine >= min_cosine);
  }
}

TEST_CASE("stream quantize: GPTQ is refused, a NaN weight is an input error and leaves no output") {
  TempDir tmp;
  const fs::path fp32 = tmp / "mlp.onnx";
  write_mlp_model(fp32.string(), 2, 256, 5);
  StreamQuantizeOptions options;
  options.settings = weight_only_settings(quantize_weights_options().parse({{"method", "gptq"}}));
  CHECK_THROWS_WITH_AS(stream_quantize_weights(fp32.string(), (tmp / "q.onnx").string(), options),
                       doctest::Contains("GPTQ"), InputError);
  Model m = import_onnx(fp32.string());
  at::Tensor w = m.graph.initializers.at("fc1.weight").clone();
  w[3][4] = std::nanf("");
  m.graph.initializers["fc1.weight"] = w;
  save_onnx(m, (tmp / "nan.onnx").string(), SaveOptions{1024, nullptr});
  options.settings.gptq = false;
  CHECK_THROWS_WITH_AS(stream_quantize_weights((tmp / "nan.onnx").string(), (tmp / "q.onnx").string(), options),
                       doctest::Contains("NaN or Inf"), InputError);
  CHECK(!fs::exists(tmp / "q.onnx"));
  CHECK(!fs::exists(tmp / "q.onnx.data"));
}

TEST_CASE("quantize --weights int8 --stream: peak RSS follows the largest layer, not the model" * doctest::test_suite("cli")) {
  TempDir tmp;
  // 16 layers of 4 MiB (64 MiB) against 1 layer: the process's own footprint (LibTorch, ONNX)
  // is the same in both; what streaming adds for the 15 other layers must stay far below them.
  write_mlp_model((tmp / "big.onnx").string(), 16, 1024, 1);
  write_mlp_model((tmp / "one.onnx").string(), 1, 1024, 1);
  const int64_t one = peak_rss_of_cli({"-q", "quantize", (tmp / "one.onnx").string(), "-o", (tmp / "one.int8.onnx").string(),
                                       "--weights", "int8", "--stream"});
  const int64_t big = peak_rss_of_cli({"-q", "quantize", (tmp / "big.onnx").string(), "-o", (tmp / "big.int8.onnx").string(),
                                       "--weights", "int8", "--stream"});
  const int64_t whole = peak_rss_of_cli({"-q", "quantize", (tmp / "big.onnx").string(), "-o", (tmp / "big.mem.onnx").string(),
                                         "--weights", "int8"});
  REQUIRE(one > 0);
  REQUIRE(big > 0);
  REQUIRE(whole > 0);
  const int64_t model = 16 * 1024 * 1024 * 4;
  MESSAGE(fmt::format("peak RSS: 1 layer {:.1f} MiB, 16 layers streamed {:.1f} MiB, in memory {:.1f} MiB", one / 1048576.0,
                      big / 1048576.0, whole / 1048576.0));
  CHECK(big - one < model / 4);
  CHECK(big < whole);
}

}  // TEST_SUITE("stream")
