#include "tests/helpers.h"

#include "core/executor.h"

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

#include <cmath>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "core/error.h"

namespace edgepack::test {

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / fmt::format("edgepack-test-{}-{:x}", ::getpid(), rd());
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

static std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double sqnr_db(const at::Tensor& ref, const at::Tensor& y) {
  const at::Tensor r = ref.to(at::kDouble);
  const double noise = (r - y.to(at::kDouble)).pow(2).sum().item<double>();
  return noise == 0 ? INFINITY : 10 * std::log10(r.pow(2).sum().item<double>() / noise);
}

bool near(const at::Tensor& a, const at::Tensor& b, double tol, std::string* why) {
  if (a.sizes() != b.sizes()) {
    *why = fmt::format("shape [{}] vs [{}]", fmt::join(a.sizes(), ","), fmt::join(b.sizes(), ","));
    return false;
  }
  if (a.numel() == 0) return true;
  const double diff = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  if (diff > tol) *why = fmt::format("max abs diff {} > {}", diff, tol);
  return diff <= tol;
}

std::vector<at::Tensor> run_kernel(const std::string& op, const std::vector<at::Tensor>& inputs,
                                   std::map<std::string, Attribute> attrs, size_t outputs, int64_t opset) {
  Node node;
  node.op_type = op;
  node.name = "n";
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i].defined() ? fmt::format("x{}", i) : "");
  for (size_t o = 0; o < outputs; ++o) node.outputs.push_back(fmt::format("y{}", o));
  node.attrs = std::move(attrs);
  auto result = kernels().at(op)(KernelContext{node, inputs, opset});
  if (result.size() < outputs)
    throw std::logic_error(fmt::format("{} returned {} outputs, {} asked for", op, result.size(), outputs));
  return result;
}

CliResult run_cli(const std::string& args) {
  TempDir tmp;
  std::string cmd = fmt::format("'{}' {} >'{}' 2>'{}'", EDGEPACK_BINARY, args, (tmp / "out").string(),
                                (tmp / "err").string());
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

namespace {

std::vector<std::pair<const char*, int (*)(const char*)>>& subprocess_entries() {
  static std::vector<std::pair<const char*, int (*)(const char*)>> entries;
  return entries;
}

}  // namespace

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

bool register_subprocess_entry(const char* env, int (*entry)(const char* value)) {
  subprocess_entries().emplace_back(env, entry);
  return true;
}

int run_requested_subprocess_entry() {
  for (const auto& [env, entry] : subprocess_entries())
    if (const char* value = std::getenv(env)) {
      try {
        return entry(value);
      } catch (const std::exception& e) {   // a failing subprocess exits 1 with its message, as a failed test did
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
      }
    }
  return -1;
}

std::string conformance_dir() {
  const char* env = std::getenv("EDGEPACK_CONFORMANCE_DIR");
  const fs::path dir = env && *env ? fs::path(env) : fs::path(EDGEPACK_CONFORMANCE_DIR);
  std::error_code ec;
  return fs::is_directory(dir, ec) ? fs::canonical(dir).string() : "";
}

int count_ops(const Model& m, const std::string& op) {
  return static_cast<int>(std::count_if(m.graph.nodes.begin(), m.graph.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

bool all_close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol, std::string* why) {
  if (a.sizes() != b.sizes()) {
    if (why) *why = fmt::format("shape [{}] vs expected [{}]", fmt::join(a.sizes(), ","), fmt::join(b.sizes(), ","));
    return false;
  }
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  at::Tensor diff = (x - y).abs();
  at::Tensor bad = diff > (atol + rtol * y.abs());
  // NaN in the same place counts as equal.
  bad = bad.logical_and((x.isnan().logical_and(y.isnan())).logical_not());
  bad = bad.logical_or(x.isnan().logical_xor(y.isnan()));
  if (bad.any().item<bool>()) {
    if (why) *why = fmt::format("{} of {} values differ, max abs error {:.3g}", bad.sum().item<int64_t>(),
                                a.numel(), diff.nan_to_num(0).max().item<double>());
    return false;
  }
  return true;
}

at::Tensor light_model_input(const Model& model) {
  const ValueInfo* in = model.graph.runtime_inputs().at(0);
  auto shape = in->concrete_shape(1);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return (at::arange(n, at::kFloat) / static_cast<float>(n)).reshape(shape);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace edgepack::test

namespace edgepack::test {

Model tiny_conv_model(uint64_t seed, int64_t cin, int64_t cout) {
  at::manual_seed(seed);
  Model m;
  m.ir_version = 8;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.name = "tiny";
  auto info = [](const std::string& name, std::vector<int64_t> dims) {
    ValueInfo v;
    v.name = name;
    v.elem_type = 1;  // FLOAT
    std::vector<Dim> shape;
    for (int64_t d : dims) shape.push_back(Dim{d, ""});
    v.shape = shape;
    return v;
  };
  g.inputs.push_back(info("X", {1, cin, 8, 8}));
  g.outputs.push_back(info("Y", {1, cout, 8, 8}));
  g.initializers["W"] = at::randn({cout, cin, 3, 3});
  g.initializers["B"] = at::randn({cout});
  Node conv;
  conv.name = "conv";
  conv.op_type = "Conv";
  conv.inputs = {"X", "W", "B"};
  conv.outputs = {"H"};
  conv.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  conv.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
  Node relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"H"};
  relu.outputs = {"Y"};
  g.nodes = {conv, relu};
  return m;
}

void randomize_weights(Model& model, uint64_t seed) {
  at::manual_seed(seed);
  for (const Node& n : model.graph.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      auto it = model.graph.initializers.find(n.inputs[i]);
      if (it == model.graph.initializers.end() || it->second.scalar_type() != at::kFloat) continue;
      at::Tensor& w = it->second;
      const std::string& op = n.op_type;
      if ((op == "Conv" || op == "Gemm" || op == "MatMul") && i == 1 && w.dim() >= 2) {
        int64_t fan_in = op == "Conv" ? w.numel() / w.size(0) : (op == "Gemm" && n.attr_int("transB", 0) ? w.size(1) : w.size(0));
        w = at::randn(w.sizes()) * std::sqrt(2.0 / fan_in);
      } else if (op == "BatchNormalization" && (i == 1 || i == 4)) {
        w = at::rand(w.sizes()) + 0.5;  // scale and variance: positive
      } else if (i > 0) {
        w = at::randn(w.sizes()) * 0.1;  // biases, BN shift and mean, PRelu slopes
      }
    }
  }
}

std::string input_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

}  // namespace edgepack::test
