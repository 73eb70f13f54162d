// Shared test utilities: temporary folders, running the CLI, locating conformance data.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack::test {

// Subprocess entry points, which are not test cases: a test file registers one under an
// environment variable (at static initialisation), and tests/test_main.cpp runs it instead of the
// tests when the variable is set, passing its value. Returns true (for a static initialiser).
bool register_subprocess_entry(const char* env, int (*entry)(const char* value));
// The exit code of the requested entry point, or -1 when none is requested.
int run_requested_subprocess_entry();


namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A path in single quotes, for run_cli argument strings.
inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs the edgepack binary with `args` (a shell-quoted argument string).
CliResult run_cli(const std::string& args);

// Same shape and max |a - b| <= tol, compared in double; `why` says what differs when not.
bool near(const at::Tensor& a, const at::Tensor& b, double tol, std::string* why);
// 10 log10(sum ref^2 / sum (ref - y)^2) in double; +inf when they are equal.
double sqnr_db(const at::Tensor& ref, const at::Tensor& y);

// Runs one kernel as the executor calls it: op_type on `inputs` (an undefined tensor = an omitted
// optional input) with `outputs` outputs, for the op tests (std::logic_error when it returns fewer).
std::vector<at::Tensor> run_kernel(const std::string& op, const std::vector<at::Tensor>& inputs,
                                   std::map<std::string, Attribute> attrs = {}, size_t outputs = 1, int64_t opset = 17);

// The message of the InputError `fn` throws, or "(no InputError)" when it returns normally.
std::string input_error_of(const std::function<void()>& fn);

// ../shared/conformance, or "" when absent (tests then skip with a message).
// The ONNX conformance models: $EDGEPACK_CONFORMANCE_DIR when set, else ../shared/conformance
// beside the checkout; "" when that is not a folder.
std::string conformance_dir();

// onnxruntime-node is required where CI runs (CI=true: a missing one fails the case); elsewhere a
// case that needs it skips with a message.
bool in_ci();
#define SKIP_WITHOUT_ONNXRUNTIME()                                                                    \
  do {                                                                                               \
    if (!onnxruntime_available()) {                                                                  \
      if (edgepack::test::in_ci()) FAIL("onnxruntime-node is missing (CI=true requires it): run scripts/setup.sh"); \
      MESSAGE("skipped: onnxruntime-node is not installed (scripts/setup.sh)");                       \
      return;                                                                                        \
    }                                                                                                \
  } while (0)

// The same rule for the conformance models (conformance_dir()).
#define SKIP_WITHOUT_CONFORMANCE(root)                                                                 \
  do {                                                                                                \
    if ((root).empty()) {                                                                             \
      if (edgepack::test::in_ci()) FAIL("the conformance models are missing (CI=true requires them): " \
                                        "set EDGEPACK_CONFORMANCE_DIR=DIR");                      \
      MESSAGE("skipped: ../shared/conformance is absent");                                            \
      return;                                                                                         \
    }                                                                                                 \
  } while (0)

// Nodes of `op` type in the top-level graph.
int count_ops(const Model& m, const std::string& op);

// |a-b| <= atol + rtol*|b| elementwise (b is the reference); shapes must match.
bool all_close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol, std::string* why = nullptr);

// The conformance rule for light models: first runtime input, dim_value (1 when unknown),
// filled with arange(n)/n as float32.
at::Tensor light_model_input(const Model& model);

// Writes a small text file.
void write_text(const fs::path& path, const std::string& text);

}  // namespace edgepack::test

namespace edgepack::test {

// A small valid model built in code: X[1,cin,8,8] -> Conv(cout x cin x 3x3, pad 1) -> Relu -> Y,
// seeded weights. Opset 13.
Model tiny_conv_model(uint64_t seed = 1, int64_t cin = 3, int64_t cout = 4);

// Gives every float initializer a seeded value drawn by its role in the graph: He-normal for
// Conv/Gemm/MatMul weights, positive BatchNorm scales and variances, small biases. Used on the
// light models, whose weights are all 0.02 (fold constants first).
void randomize_weights(Model& model, uint64_t seed);

}  // namespace edgepack::test
