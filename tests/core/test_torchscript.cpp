// TorchScript ingest: modules written in TorchScript source and compiled by LibTorch, saved to a
// temporary .pt, loaded through load_model; our executor's outputs must equal the module's
// forward() (atol 1e-5, rtol 1e-4), the converted graph must have the expected ops, and bad
// files and unsupported ops must be one-line InputErrors naming the problem.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include <fstream>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/executor.h"
#include "core/model_loader.h"
#include "core/npy.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

constexpr double kRtol = 1e-4, kAtol = 1e-5;

// A seeded tensor scaled so activations stay in a range where float32 sums agree to 1e-5.
at::Tensor seeded(std::vector<int64_t> shape, double scale = 0.3) { return at::randn(shape) * scale; }

// Conv(3->8, 3x3) + BatchNorm + ReLU + MaxPool 2x2 + global average pool + Linear(8->10).
torch::jit::Module small_cnn() {
  at::manual_seed(1);
  torch::jit::Module m("SmallCNN");
  m.register_parameter("conv_w", seeded({8, 3, 3, 3}), false);
  m.register_parameter("conv_b", seeded({8}), false);
  m.register_parameter("bn_w", at::rand({8}) + 0.5, false);
  m.register_parameter("bn_b", seeded({8}), false);
  m.register_buffer("bn_mean", seeded({8}));
  m.register_buffer("bn_var", at::rand({8}) + 0.5);
  m.register_parameter("fc_w", seeded({10, 8}), false);
  m.register_parameter("fc_b", seeded({10}), false);
  m.define(R"(
def forward(self, x):
    y = torch.conv2d(x, self.conv_w, self.conv_b, [1, 1], [1, 1])
    y = torch.batch_norm(y, self.bn_w, self.bn_b, self.bn_mean, self.bn_var, False, 0.1, 1e-5, False)
    y = torch.relu(y)
    y = torch.max_pool2d(y, [2, 2], [2, 2])
    y = torch.dropout(y, 0.5, False)
    y = torch.adaptive_avg_pool2d(y, [1, 1])
    y = torch.flatten(y, 1)
    return torch.linear(y, self.fc_w, self.fc_b)
)");
  return m;
}

// Linear + GELU (exact and tanh) + LayerNorm + SiLU/Sigmoid/Tanh/HardSwish, scalar arithmetic,
// MatMul, softmax and log_softmax as a tuple.
torch::jit::Module mlp() {
  at::manual_seed(2);
  torch::jit::Module m("MLP");
  m.register_parameter("w1", seeded({32, 16}), false);
  m.register_parameter("b1", seeded({32}), false);
  m.register_parameter("ln_w", at::rand({32}) + 0.5, false);
  m.register_parameter("ln_b", seeded({32}), false);
  m.register_parameter("w2", seeded({32, 32}), false);
  m.register_parameter("w3", seeded({32, 10}), false);
  m.define(R"(
def forward(self, x):
    h = torch.gelu(torch.linear(x, self.w1, self.b1))
    h = torch.layer_norm(h, [32], self.ln_w, self.ln_b, 1e-5)
    g = torch.gelu(torch.linear(h, self.w2, None), approximate='tanh')
    h = torch.silu(h) + g * 0.5 - torch.sigmoid(h) / 2.0
    h = torch.add(torch.tanh(h), torch.hardswish(h), alpha=2)
    h = torch.matmul(h, self.w3)
    return torch.softmax(h, -1), torch.log_softmax(h, 1)
)");
  return m;
}

constexpr int64_t kVocab = 50, kWidth = 32, kHeads = 4;

// One pre-norm transformer block over token ids: embedding, causal multi-head attention
// (view/permute/transpose, matmul, masked softmax), residual adds, a GELU MLP, tied output.
torch::jit::Module transformer_block() {
  at::manual_seed(3);
  torch::jit::Module m("Block");
  m.register_parameter("emb", seeded({kVocab, kWidth}, 1.0), false);
  for (const char* p : {"q", "k", "v", "o"}) {
    m.register_parameter(fmt::format("w{}", p), seeded({kWidth, kWidth}, 0.2), false);
    m.register_parameter(fmt::format("b{}", p), seeded({kWidth}, 0.1), false);
  }
  m.register_parameter("ln_w", at::rand({kWidth}) + 0.5, false);
  m.register_parameter("ln_b", seeded({kWidth}, 0.1), false);
  m.register_parameter("w1", seeded({2 * kWidth, kWidth}, 0.2), false);
  m.register_parameter("b1", seeded({2 * kWidth}, 0.1), false);
  m.register_parameter("w2", seeded({kWidth, 2 * kWidth}, 0.2), false);
  m.register_parameter("b2", seeded({kWidth}, 0.1), false);
  m.define(R"(
def forward(self, ids):
    x = torch.embedding(self.emb, ids)
    B = ids.size(0)
    T = ids.size(1)
    h = torch.layer_norm(x, [32], self.ln_w, self.ln_b, 1e-5)
    q = torch.linear(h, self.wq, self.bq).view(B, T, 4, 8).permute(0, 2, 1, 3)
    k = torch.linear(h, self.wk, self.bk).view(B, T, 4, 8).permute(0, 2, 3, 1)
    v = torch.linear(h, self.wv, self.bv).reshape(B, T, 4, -1).transpose(1, 2)
    att = torch.matmul(q, k) / 2.8284271247461903
    mask = torch.triu(torch.ones([T, T]), 1) > 0
    att = torch.softmax(att.masked_fill(mask, -1e9), -1)
    o = torch.matmul(att, v).transpose(1, 2).contiguous().view(B, T, 32)
    x = x + torch.linear(o, self.wo, self.bo)
    x = x + torch.linear(torch.gelu(torch.linear(x, self.w1, self.b1)), self.w2, self.b2)
    logits = torch.matmul(x, self.emb.t())
    return logits, torch.mean(x, [1])
)");
  return m;
}

fs::path save(torch::jit::Module& m, const TempDir& tmp, const std::string& name) {
  fs::path path = tmp / name;
  m.save(path.string());
  return path;
}

LoadOptions shapes(std::map<std::string, InputSpec> specs) { return LoadOptions{std::move(specs), {}}; }

std::map<std::string, int> op_histogram(const Model& m) {
  std::map<std::string, int> ops;
  for (const Node& n : m.graph.nodes) ++ops[n.op_type];
  return ops;
}

// The module's outputs, flattened from a tuple, next to ours on the same inputs.
void check_outputs_equal(torch::jit::Module& module, const Model& model, const std::vector<at::Tensor>& inputs) {
  module.eval();
  std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
  c10::IValue out = module.forward(args);
  std::vector<at::Tensor> expected;
  if (out.isTuple()) {
    for (const c10::IValue& v : out.toTupleRef().elements()) expected.push_back(v.toTensor());
  } else {
    expected.push_back(out.toTensor());
  }
  std::vector<at::Tensor> actual = Executor(model).run(inputs);
  REQUIRE(actual.size() == expected.size());
  for (size_t k = 0; k < actual.size(); ++k) {
    std::string why;
    CHECK_MESSAGE(all_close(actual[k], expected[k], kRtol, kAtol, &why), fmt::format("output {}: {}", k, why));
  }
}

// Every field of a Model, one line each (initializer values compared apart), for comparing
// two Models with a readable first difference.
std::vector<std::string> describe(const Model& m) {
  auto value = [](const char* what, const ValueInfo& v) {
    std::string dims = "unranked";
    if (v.shape) {
      std::vector<std::string> ds;
      for (const Dim& d : *v.shape) ds.push_back(d.known() ? std::to_string(d.value) : d.param.empty() ? "?" : d.param);
      dims = fmt::format("[{}]", fmt::join(ds, ","));
    }
    return fmt::format("{} {} {} {}", what, v.name, v.elem_type, dims);
  };
  std::vector<std::string> lines = {fmt::format("ir_version {}", m.ir_version),
                                    fmt::format("producer {} {}", m.producer_name, m.producer_version),
                                    fmt::format("domain '{}' model_version {} doc '{}'", m.domain, m.model_version, m.doc_string),
                                    fmt::format("graph '{}' doc '{}'", m.graph.name, m.graph.doc_string)};
  for (const auto& [domain, version] : m.opsets) lines.push_back(fmt::format("opset '{}' {}", domain, version));
  for (const auto& [key, v] : m.metadata) lines.push_back(fmt::format("metadata {}={}", key, v));
  for (const ValueInfo& v : m.graph.inputs) lines.push_back(value("input", v));
  for (const ValueInfo& v : m.graph.outputs) lines.push_back(value("output", v));
  for (const ValueInfo& v : m.graph.value_info) lines.push_back(value("value_info", v));
  for (const auto& [name, t] : m.graph.initializers)
    lines.push_back(fmt::format("initializer {} {} [{}]", name, c10::toString(t.scalar_type()), fmt::join(t.sizes(), ",")));
  for (const Node& n : m.graph.nodes) {
    std::string line = fmt::format("node '{}' {} '{}' ({}) -> ({}) '{}'", n.name, n.op_type, n.domain, fmt::join(n.inputs, ","),
                                   fmt::join(n.outputs, ","), n.doc_string);
    for (const auto& [name, a] : n.attrs)
      line += fmt::format(" {}:{}:{}:{}:{}:[{}]:[{}]:[{}]", name, static_cast<int>(a.kind), a.i, a.f, a.s, fmt::join(a.ints, ","),
                          fmt::join(a.floats, ","), fmt::join(a.strings, ","));
    lines.push_back(line);
  }
  return lines;
}

std::string load_error(const fs::path& path, const LoadOptions& options) {
  try {
    load_model(path.string(), options);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("parse_input_spec reads NAME:DIMS[:TYPE] and bare DIMS, and refuses malformed ones") {
  auto [name, spec] = parse_input_spec("x:1x3x224x224");
  CHECK(name == "x");
  CHECK(spec.dims == std::vector<int64_t>{1, 3, 224, 224});
  CHECK(spec.elem_type == 0);
  auto [bare, bare_spec] = parse_input_spec("2x8");
  CHECK(bare.empty());
  CHECK(bare_spec.dims == std::vector<int64_t>{2, 8});
  CHECK(parse_input_spec("ids:1x16:int64").second.elem_type == onnx::TensorProto_DataType_INT64);
  for (const char* bad : {"x:1xx3", "x:1x0", "x:-1x3", ":1x3", "x:1x3:complex", "a:b:c:d", "x:abc"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_input_spec(bad), InputError);
  }
}

TEST_CASE("TorchScript small CNN: conv, batch_norm, relu, pools and linear match the module") {
  TempDir tmp;
  torch::jit::Module module = small_cnn();
  Model model = load_model(save(module, tmp, "cnn.pt").string(), shapes({{"x", {{2, 3, 16, 16}}}}));
  CHECK(model.opset() == kTorchScriptOpset);
  CHECK(op_histogram(model) == std::map<std::string, int>{{"Conv", 1}, {"BatchNormalization", 1}, {"Relu", 1},
                                                          {"MaxPool", 1}, {"GlobalAveragePool", 1}, {"Flatten", 1},
                                                          {"Gemm", 1}});
  REQUIRE(model.graph.runtime_inputs().size() == 1);
  CHECK(model.graph.runtime_inputs()[0]->name == "x");
  REQUIRE(model.graph.outputs.size() == 1);
  CHECK(model.graph.outputs[0].name == "output");
  CHECK(model.graph.initializers.size() == 8);   // the module's parameters and buffers
  at::manual_seed(10);
  check_outputs_equal(module, model, {at::randn({2, 3, 16, 16})});
}

TEST_CASE("TorchScript MLP: gelu (exact, tanh), silu, layer_norm, scalar arithmetic, softmax match the module") {
  TempDir tmp;
  torch::jit::Module module = mlp();
  Model model = load_model(save(module, tmp, "mlp.pt").string(), shapes({{"", {{4, 16}}}}));
  auto ops = op_histogram(model);
  CHECK(ops["Gemm"] == 2);                  // linear on a 2-D input
  CHECK(ops["MatMul"] == 1);
  CHECK(ops["Erf"] == 1);                   // exact gelu
  CHECK(ops["Tanh"] == 2);                  // tanh gelu, torch.tanh
  CHECK(ops["LayerNormalization"] == 1);
  CHECK(ops["Sigmoid"] == 2);               // silu, torch.sigmoid
  CHECK(ops["HardSwish"] == 1);
  CHECK(ops["Softmax"] == 1);
  CHECK(ops["LogSoftmax"] == 1);
  CHECK(model.graph.outputs.size() == 2);
  at::manual_seed(11);
  check_outputs_equal(module, model, {at::randn({4, 16})});
}

TEST_CASE("TorchScript transformer block: embedding, attention, causal mask and residuals match the module") {
  TempDir tmp;
  torch::jit::Module module = transformer_block();
  // ids feeds an embedding, so it is int64 without saying so.
  Model model = load_model(save(module, tmp, "block.pt").string(), shapes({{"ids", {{2, 8}}}}));
  REQUIRE(model.graph.runtime_inputs().size() == 1);
  CHECK(model.graph.runtime_inputs()[0]->elem_type == onnx::TensorProto_DataType_INT64);
  auto ops = op_histogram(model);
  CHECK(ops["Gather"] == 1);
  CHECK(ops["MatMul"] == 9);                // 6 linear on 3-D inputs, 2 attention, tied output
  CHECK(ops["Transpose"] == 4);             // q, k permute; v, o transpose
  CHECK(ops["Reshape"] == 4);
  CHECK(ops["Softmax"] == 1);
  CHECK(ops["Where"] == 1);                 // masked_fill; the mask itself is a constant
  CHECK(ops["ReduceMean"] == 1);
  CHECK(ops.count("Shape") == 0);           // sizes are known for the given shape
  // The embedding is one initializer, shared by Gather and the tied output projection.
  CHECK(model.graph.initializers.count("self.emb"));
  at::manual_seed(12);
  check_outputs_equal(module, model, {at::randint(0, kVocab, {2, 8}, at::kLong)});
}

TEST_CASE("TorchScript import builds the Model import_onnx would give for its ONNX form, value_info included") {
  // The converter types every value from its example run instead of exporting and re-importing
  // with shape inference; the two must agree field by field.
  TempDir tmp;
  struct Case {
    const char* file;
    torch::jit::Module module;
    std::map<std::string, InputSpec> specs;
  };
  for (Case& c : std::vector<Case>{{"cnn.pt", small_cnn(), {{"x", {{2, 3, 16, 16}}}}},
                                   {"mlp.pt", mlp(), {{"", {{4, 16}}}}},
                                   {"block.pt", transformer_block(), {{"ids", {{2, 8}}}}}}) {
    CAPTURE(c.file);
    Model direct = load_model(save(c.module, tmp, c.file).string(), shapes(c.specs));
    onnx::ModelProto proto;
    export_onnx(direct, &proto);
    proto.mutable_graph()->clear_value_info();   // shape inference finds them again
    Model reimported = import_onnx(std::move(proto), "");
    const std::vector<std::string> a = describe(direct), b = describe(reimported);
    for (size_t k = 0; k < std::max(a.size(), b.size()); ++k) {
      CAPTURE(k);
      REQUIRE(k < a.size());
      REQUIRE(k < b.size());
      REQUIRE(a[k] == b[k]);
    }
    CHECK(direct.graph.value_info.size() + direct.graph.outputs.size() >= direct.graph.nodes.size());
    for (const auto& [name, t] : direct.graph.initializers) {
      CAPTURE(name);
      CHECK(at::equal(t, reimported.graph.initializers.at(name)));
    }
  }
}

TEST_CASE("TorchScript optional inputs (default None) are left out; bare DIMS bind to the one required tensor") {
  TempDir tmp;
  at::manual_seed(3);
  torch::jit::Module module("Masked");
  module.register_parameter("w", seeded({4, 4}), false);
  // The shape of nn.TransformerEncoder.forward(src, mask=None, src_key_padding_mask=None).
  module.define(R"(
def forward(self, src, mask: Optional[Tensor] = None, src_key_padding_mask: Optional[Tensor] = None):
    y = torch.matmul(src, self.w)
    if mask is not None:
        y = y + mask
    if src_key_padding_mask is not None:
        y = y * src_key_padding_mask
    return torch.relu(y)
)");
  Model model = load_model(save(module, tmp, "masked.pt").string(), shapes({{"", {{2, 3, 4}}}}));
  REQUIRE(model.graph.runtime_inputs().size() == 1);
  CHECK(model.graph.runtime_inputs()[0]->name == "src");
  CHECK(op_histogram(model) == std::map<std::string, int>{{"MatMul", 1}, {"Relu", 1}});
  check_outputs_equal(module, model, {at::randn({2, 3, 4})});
}

TEST_CASE("TorchScript outputs: a value returned twice and an input returned as it is get their own names") {
  TempDir tmp;
  torch::jit::Module module("Twice");
  module.define(R"(
def forward(self, x):
    y = torch.relu(x)
    return y, y, x
)");
  Model model = load_model(save(module, tmp, "twice.pt").string(), shapes({{"x", {{2, 3}}}}));
  std::vector<std::string> names;
  for (const ValueInfo& v : model.graph.outputs) names.push_back(v.name);
  CHECK(names == std::vector<std::string>{"output_0", "output_1", "output_2"});
  CHECK(op_histogram(model) == std::map<std::string, int>{{"Relu", 1}, {"Identity", 2}});
  check_outputs_equal(module, model, {at::randn({2, 3})});
}

TEST_CASE("TorchScript conversion errors: unsupported op with its line, bad files, missing or unknown input names") {
  TempDir tmp;
  torch::jit::Module lstm("LSTM");
  lstm.register_parameter("w", seeded({16, 4}), false);
  lstm.define(R"(
def forward(self, x):
    h = torch.relu(x)
    state = torch.lstm_cell(h, [h, h], self.w, self.w)
    return state[0]
)");
  const fs::path lstm_path = save(lstm, tmp, "lstm.pt");
  std::string err = load_error(lstm_path, shapes({{"x", {{1, 4}}}}));
  CHECK(err.find("aten::lstm_cell") != std::string::npos);
  CHECK(err.find(":4: state = torch.lstm_cell(") != std::string::npos);
  CHECK(err.find('\n') == std::string::npos);

  CHECK(load_error(lstm_path, {}).find("input 'x' has no shape") != std::string::npos);
  CHECK(load_error(lstm_path, shapes({{"y", {{1, 4}}}})).find("names 'y', but forward() takes x") != std::string::npos);
  // Shapes the module cannot run on: the op that failed, in one line.
  std::string wrong = load_error(lstm_path, shapes({{"x", {{1, 5}}}}));
  CHECK(wrong.find("aten::lstm_cell") != std::string::npos);
  CHECK(wrong.find('\n') == std::string::npos);

  // Conv and pools without a batch dim, which PyTorch takes and ONNX would misread.
  torch::jit::Module unbatched("Unbatched");
  unbatched.register_parameter("w", seeded({4, 3, 3, 3}), false);
  unbatched.define(R"(
def forward(self, x, y):
    return torch.conv2d(x, self.w), torch.max_pool2d(y, [2, 2])
)");
  const fs::path unbatched_path = save(unbatched, tmp, "unbatched.pt");
  std::string conv = load_error(unbatched_path, shapes({{"x", {{3, 8, 8}}}, {"y", {{1, 3, 8, 8}}}}));
  CHECK(conv.find("aten::conv2d (an input of rank 3 is not supported; conv2d wants rank 4") != std::string::npos);
  std::string pool = load_error(unbatched_path, shapes({{"x", {{1, 3, 8, 8}}}, {"y", {{3, 8, 8}}}}));
  CHECK(pool.find("aten::max_pool2d (an input of rank 3 is not supported") != std::string::npos);

  // A truncated archive and a zip that is not TorchScript.
  torch::jit::Module cnn = small_cnn();
  const fs::path good = save(cnn, tmp, "cnn.pt");
  std::string bytes(fs::file_size(good), '\0');
  std::ifstream(good, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  write_text(tmp / "truncated.pt", bytes.substr(0, bytes.size() / 2));
  write_npz((tmp / "data.npz").string(), {{"x", at::zeros({2})}});
  for (const fs::path& bad : {tmp / "truncated.pt", tmp / "data.npz"}) {
    CAPTURE(bad);
    std::string e = load_error(bad, shapes({{"x", {{1, 3, 8, 8}}}}));
    CHECK(e.find("not a readable TorchScript archive") != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
  // For an ONNX file --input-shape binds dynamic dims (core/input_shapes.h): a wrong name or a
  // size that contradicts the declared one is refused.
  save_onnx(tiny_conv_model(), (tmp / "tiny.onnx").string());
  CHECK(load_error(tmp / "tiny.onnx", shapes({{"x", {{1, 3, 8, 8}}}})).find("the model has no input 'x' (did you mean 'X'?)") !=
        std::string::npos);
  CHECK(load_error(tmp / "tiny.onnx", shapes({{"X", {{1, 5, 8, 8}}}})).find("dim 1 is 3 in the model, not 5") != std::string::npos);
}

TEST_SUITE("onnxruntime") {

TEST_CASE("a converted TorchScript transformer block runs in onnxruntime with the module's outputs") {
  REQUIRE_MESSAGE(onnxruntime_available(), "onnxruntime-node is missing: run scripts/setup.sh");
  TempDir tmp;
  torch::jit::Module module = transformer_block();
  Model model = load_model(save(module, tmp, "block.pt").string(), shapes({{"ids", {{2, 8}}}}));
  save_onnx(model, (tmp / "block.onnx").string());
  at::manual_seed(13);
  at::Tensor ids = at::randint(0, kVocab, {2, 8}, at::kLong);
  auto results = run_onnxruntime({{(tmp / "block.onnx").string(), {{"ids", ids}}}});
  REQUIRE_MESSAGE(results[0].error.empty(), results[0].error);
  auto expected = module.forward({ids}).toTupleRef().elements();
  REQUIRE(results[0].outputs.size() == 2);
  for (size_t k = 0; k < 2; ++k) {
    std::string why;
    CHECK_MESSAGE(all_close(results[0].outputs[k], expected[k].toTensor(), kRtol, kAtol, &why), why);
  }
}

}  // TEST_SUITE

TEST_SUITE("cli") {

TEST_CASE("edgepack inspect, run and compress take a TorchScript model with --input-shape") {
  TempDir tmp;
  torch::jit::Module module = small_cnn();
  const fs::path pt = save(module, tmp, "cnn.pt");

  CliResult r = run_cli(fmt::format("inspect {} --input-shape x:1x3x16x16 --json", q(pt)));
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  // conv 8x3x3x3+8, bn 4x8, fc 10x8+10
  CHECK(j["totals"]["params"] == 8 * 27 + 8 + 4 * 8 + 80 + 10);
  CHECK(j["totals"]["op_histogram"]["Conv"] == 1);

  CliResult missing = run_cli(fmt::format("inspect {}", q(pt)));
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("--input-shape x:DIMS") != std::string::npos);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CliResult malformed = run_cli(fmt::format("inspect {} --input-shape x:1x3xQ", q(pt)));
  CHECK(malformed.exit_code == 2);

  at::manual_seed(14);
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 16, 16}), "x");
  CliResult ran = run_cli(fmt::format("run {} --input-shape 1x3x16x16 --input {}", q(pt), q(tmp / "x.pb")));
  CAPTURE(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out.find("output Float [1x10]") != std::string::npos);

  write_npz((tmp / "calib.npz").string(), {{"x", at::randn({8, 3, 16, 16})}});
  CliResult c = run_cli(fmt::format("-q compress {} --input-shape x:1x3x16x16 --data {} --target qcs2290 --out {} --json",
                                    q(pt), q(tmp / "calib.npz"), q(tmp / "out")));
  CAPTURE(c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(nlohmann::json::parse(c.out)["targets"].size() == 1);
  Model compressed = load_model((tmp / "out" / "qcs2290" / "model.onnx").string());
  CHECK(compressed.graph.runtime_inputs()[0]->name == "x");
}

}  // TEST_SUITE
