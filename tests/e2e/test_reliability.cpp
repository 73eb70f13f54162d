// Crash-safe outputs, input protection, the output lock and the numerical guards of quantize.
// In-process checks are in the "reliability" suite (part of the unit run, also under the
// sanitizers); those that start the CLI are in "cli".
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/file_util.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/output_lock.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "tests/helpers.h"
#include "tests/kill_harness.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

std::string slurp(const fs::path& p) { return read_file(p.string(), "file"); }

bool has_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".edgepack-tmp-") != std::string::npos) return true;
  return false;
}

// Runs the CLI behind a shell prefix (`ulimit -f 4;`, `setpriv ...`), like run_cli.
// A file's contents, "" while it does not exist yet.
std::string slurp_if_present(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CliResult run_cli_with(const std::string& prefix, const std::string& args) {
  TempDir tmp;
  std::string cmd = fmt::format("{} '{}' {} >'{}' 2>'{}'", prefix, EDGEPACK_BINARY, args, (tmp / "out").string(),
                                (tmp / "err").string());
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

void check_one_line_error(const CliResult& r, int code, const std::string& needle) {
  CAPTURE(r.err);
  CHECK(r.exit_code == code);
  CHECK(r.err.rfind("edgepack: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
}

// A model and calibration data for quantize; its INT8 output is ~10 KB (above `ulimit -f 4`).
struct QuantizeSetup {
  TempDir tmp;
  QuantizeSetup() {
    save_onnx(tiny_conv_model(1, 16, 64), (tmp / "fp.onnx").string());
    at::manual_seed(1);
    write_npz((tmp / "calib.npz").string(), {{"X", at::randn({8, 16, 8, 8})}});
    fs::create_directories(tmp / "out");
  }
  std::string args(const fs::path& output, bool quiet = true) const {
    return fmt::format("{}quantize {} -o {} --data {} --calib-samples 8", quiet ? "-q " : "", q(tmp / "fp.onnx"),
                       q(output), q(tmp / "calib.npz"));
  }
};

// A complete quantize artifact: imports (onnx::checker) and holds the int8 weight.
bool valid_int8(const fs::path& file, std::string* why) {
  try {
    Model m = import_onnx(file.string());
    if (!m.graph.is_initializer("W_quantized") || m.graph.initializers.at("W_quantized").scalar_type() != at::kChar) {
      *why = "no int8 weight";
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

std::vector<std::map<std::string, at::Tensor>> calibration(int n, float scale = 1) {
  at::manual_seed(3);
  std::vector<std::map<std::string, at::Tensor>> out;
  for (int i = 0; i < n; ++i) out.push_back({{"X", at::randn({1, 3, 8, 8}) * scale}});
  return out;
}

Model quantize(Model m, std::vector<std::map<std::string, at::Tensor>> calib, const std::string& pipeline = "quantize") {
  PassContext ctx;
  ctx.calibration = std::move(calib);
  run_pipeline(m, parse_pipeline(pipeline), ctx);
  return m;
}

// Every QDQ scale in the artifact is a positive finite number (what a runtime divides by).
void check_scales(const Model& m) {
  int scales = 0;
  for (const Node& n : m.graph.nodes) {
    if (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear") continue;
    const at::Tensor& s = m.graph.initializers.at(n.inputs[1]);
    CAPTURE(n.inputs[1]);
    CHECK(at::isfinite(s).all().item<bool>());
    CHECK((s > 0).all().item<bool>());
    ++scales;
  }
  CHECK(scales > 0);
}

}  // namespace

TEST_SUITE("reliability") {

TEST_CASE("write_file_atomic replaces the file whole, leaves no temporary, and sweeps those of dead runs") {
  TempDir tmp;
  const fs::path f = tmp / "a.bin";
  write_file_atomic(f.string(), "old");
  write_file_atomic(f.string(), "new contents");
  CHECK(slurp(f) == "new contents");
  CHECK(!has_temporaries(tmp.path()));
  // A named temporary left by a killed run is removed by the next write of that file (2^22 + 1
  // is above the largest pid Linux allows, so never alive); a live run's is left alone.
  write_text(tmp / (temp_prefix(f.string()) + "4194305"), "partial");
  write_text(tmp / (temp_prefix(f.string()) + std::to_string(::getppid())), "a live run's");
  write_file_atomic(f.string(), "again");
  CHECK(!fs::exists(tmp / (temp_prefix(f.string()) + "4194305")));
  CHECK(fs::exists(tmp / (temp_prefix(f.string()) + std::to_string(::getppid()))));
  CHECK_THROWS_WITH_AS(write_file_atomic((tmp / "missing" / "a.bin").string(), "x"), doctest::Contains("cannot write"),
                       Error);
}

TEST_CASE("write_file_atomic under SIGKILL at random points leaves the old or the new file, whole") {
  TempDir tmp;
  const fs::path f = tmp / "big.bin";
  // Large enough (32 MiB) that most kills land inside a write.
  const std::string a(32 << 20, 'a'), b(32 << 20, 'b');
  std::mt19937 rng(7);
  int runs = 0;
  for (; runs < 8; ++runs) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (int i = 0;; ++i) write_file_atomic(f.string(), i % 2 ? b : a);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 200));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (!fs::exists(f)) continue;   // killed before the first rename
    const std::string got = slurp(f);
    CHECK(got.size() == a.size());
    CHECK((got == a || got == b));
  }
  CHECK(!has_temporaries(tmp.path()));
}

TEST_CASE("a file-size limit (disk full) gives an error, no partial file, and keeps the previous one") {
  TempDir tmp;
  const fs::path f = tmp / "out.bin";
  write_file_atomic(f.string(), "previous");
  pid_t pid = ::fork();
  if (pid == 0) {
    rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      write_file_atomic(f.string(), std::string(1 << 20, 'x'));
    } catch (const Error& e) {
      ::_exit(std::string(e.what()).find("File too large") != std::string::npos ? 42 : 1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));   // not killed by SIGXFSZ
  CHECK(WEXITSTATUS(status) == 42);
  CHECK(slurp(f) == "previous");
  CHECK(!has_temporaries(tmp.path()));
}

TEST_CASE("read_file bounds what it reads, also from devices without a size") {
  CHECK_THROWS_WITH_AS(read_file("/dev/zero", "model", 1 << 20), doctest::Contains("larger than"), InputError);
  TempDir tmp;
  CHECK_THROWS_WITH_AS(read_file(tmp.path().string(), "model"), doctest::Contains("is a directory"), InputError);
}

TEST_CASE("the output lock serialises two runs: the second waits, or gives up after its wait") {
  TempDir tmp;
  std::vector<std::string> said;
  auto log = [&](const std::string& s) { said.push_back(s); };
  {
    auto first = std::make_unique<OutputLock>(tmp.path().string(), 0);
    const std::string holder = fmt::format("another edgepack run (pid {}) is writing into", ::getpid());
    CHECK_THROWS_WITH_AS(OutputLock(tmp.path().string(), 0.3, log), doctest::Contains(holder.c_str()), Error);
    CHECK(said.size() == 1);   // told once that it waits
    std::thread release([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      first.reset();
    });
    OutputLock second(tmp.path().string(), 30, log);
    release.join();
    CHECK(said.size() == 2);
  }
  CHECK(!fs::exists(tmp / ".edgepack.lock"));   // removed when the run ends normally
  CHECK_THROWS_WITH_AS(OutputLock((tmp / "missing").string(), 0), doctest::Contains("cannot write into"), Error);
}

TEST_CASE("quantize refuses NaN or Inf weights and biases") {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    CAPTURE(bad);
    Model m = tiny_conv_model();
    m.graph.initializers.at("W").view(-1)[5] = bad;
    CHECK_THROWS_WITH_AS(quantize(m, calibration(4)), doctest::Contains("weight 'W' of Conv node 'conv' holds NaN or Inf"),
                         InputError);
    m = tiny_conv_model();
    m.graph.initializers.at("B")[1] = bad;
    CHECK_THROWS_WITH_AS(quantize(m, calibration(4)), doctest::Contains("bias 'B'"), InputError);
  }
}

TEST_CASE("quantize refuses NaN or Inf in the calibration data, and values whose range overflows float") {
  auto calib = calibration(4);
  calib[2]["X"][0][1][2][3] = NAN;
  CHECK_THROWS_WITH_AS(quantize(tiny_conv_model(), calib), doctest::Contains("holds NaN or Inf during calibration"),
                       InputError);
  calib = calibration(4);
  calib[1]["X"][0][0][0][0] = INFINITY;
  CHECK_THROWS_WITH_AS(quantize(tiny_conv_model(), calib), doctest::Contains("NaN or Inf"), InputError);
  // Finite inputs at +-3e38: the range width (6e38) is not a float. The Conv output overflows
  // first unless the weights are tiny, so zero them.
  Model m = tiny_conv_model();
  m.graph.initializers.at("W").zero_();
  calib = calibration(2);
  calib[0]["X"][0][0][0][0] = 3e38f;
  calib[0]["X"][0][0][0][1] = -3e38f;
  CHECK_THROWS_AS(quantize(m, calib, "quantize{bias-correction=false}"), InputError);
}

TEST_CASE("constant tensors (zero range) fall back to a tiny positive scale, never NaN") {
  // All-zero calibration data and all-zero weights: every range is empty.
  std::vector<std::map<std::string, at::Tensor>> zeros(3, {{"X", at::zeros({1, 3, 8, 8})}});
  Model m = tiny_conv_model();
  m.graph.initializers.at("W").zero_();
  for (const char* p : {"quantize", "quantize{activations=int8 per-channel=false}", "quantize{calib=entropy}",
                        "quantize{calib=mse}", "quantize{calib=percentile}"}) {
    CAPTURE(p);
    Model q = quantize(m, zeros, p);
    check_scales(q);
    // Constant non-zero data too: the range is [0, c].
    std::vector<std::map<std::string, at::Tensor>> fives(3, {{"X", at::full({1, 3, 8, 8}, 5.0f)}});
    check_scales(quantize(m, fives, p));
  }
  TempDir tmp;   // and the artifact passes the checker and imports
  save_onnx(quantize(m, zeros), (tmp / "q.onnx").string());
  check_scales(import_onnx((tmp / "q.onnx").string()));
}

TEST_CASE("quantize with an empty calibration set is a clear error") {
  CHECK_THROWS_WITH_AS(quantize(tiny_conv_model(), {}), doctest::Contains("needs calibration data"), InputError);
}

}  // TEST_SUITE

TEST_SUITE("cli") {

TEST_CASE("quantize: a disk-full write (ulimit -f) is exit 1, one line, no partial file, previous output kept") {
  QuantizeSetup s;
  const fs::path out = s.tmp / "out" / "int8.onnx";
  // dash counts `ulimit -f` in 512-byte blocks, bash in KiB: 2-4 KiB, below the ~10 KiB model.
  CliResult r = run_cli_with("ulimit -f 4;", s.args(out));
  check_one_line_error(r, 1, "File too large");
  CHECK(!fs::exists(out));
  CHECK(!has_temporaries(s.tmp / "out"));
  REQUIRE(run_cli(s.args(out)).exit_code == 0);
  const std::string previous = slurp(out);
  r = run_cli_with("ulimit -f 4;", s.args(out));
  check_one_line_error(r, 1, "File too large");
  CHECK(slurp(out) == previous);
  CHECK(!has_temporaries(s.tmp / "out"));
}

TEST_CASE("run --save-outputs: a disk-full write is exit 1, one line, no partial file") {
  TempDir tmp;
  save_onnx(tiny_conv_model(1, 3, 64), (tmp / "m.onnx").string());
  write_tensor_file((tmp / "x.pb").string(), at::randn({1, 3, 8, 8}), "X");   // output is 16 KiB
  CliResult r = run_cli_with("ulimit -f 4;", "run " + q(tmp / "m.onnx") + " --input " + q(tmp / "x.pb") +
                                                 " --save-outputs " + q(tmp / "outs"));
  check_one_line_error(r, 1, "File too large");
  CHECK(!fs::exists(tmp / "outs" / "output_0.pb"));
  CHECK(!has_temporaries(tmp / "outs"));
}

TEST_CASE("quantize into a read-only folder is exit 1 before any work, and writes nothing") {
  QuantizeSetup s;
  fs::create_directories(s.tmp / "ro");
  fs::permissions(s.tmp / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  // Root ignores permissions; run as nobody then (the inputs are world-readable).
  const std::string prefix = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";
  CliResult r = run_cli_with(prefix, s.args(s.tmp / "ro" / "int8.onnx"));
  check_one_line_error(r, 1, "cannot write into");
  CHECK(fs::is_empty(s.tmp / "ro"));
}

TEST_CASE("quantize never writes over its inputs, and leaves them byte for byte as they were") {
  QuantizeSetup s;
  const std::string model = slurp(s.tmp / "fp.onnx"), data = slurp(s.tmp / "calib.npz");
  const auto mtime = fs::last_write_time(s.tmp / "fp.onnx");
  const std::string base = "quantize " + q(s.tmp / "fp.onnx") + " --data " + q(s.tmp / "calib.npz") + " -o ";
  check_one_line_error(run_cli(base + q(s.tmp / "calib.npz")), 2, "refusing to write over the input data");
  check_one_line_error(run_cli(base + q(s.tmp / "fp.onnx")), 2, "refusing to write over the input model");
  fs::create_symlink(s.tmp / "fp.onnx", s.tmp / "alias.onnx");
  check_one_line_error(run_cli(base + q(s.tmp / "alias.onnx")), 2, "refusing to write over the input model");
  REQUIRE(run_cli(base + q(s.tmp / "out" / "int8.onnx")).exit_code == 0);
  CHECK(slurp(s.tmp / "fp.onnx") == model);
  CHECK(slurp(s.tmp / "calib.npz") == data);
  CHECK(fs::last_write_time(s.tmp / "fp.onnx") == mtime);
}

TEST_CASE("-o onto a symlink replaces its target and keeps the link; onto a FIFO, a device or a folder is exit 2") {
  QuantizeSetup s;
  // A symlink: the file it names gets the model, atomically; the link stays a link.
  write_text(s.tmp / "out" / "real.onnx", "old");
  fs::create_symlink("real.onnx", s.tmp / "out" / "link.onnx");
  REQUIRE(run_cli(s.args(s.tmp / "out" / "link.onnx")).exit_code == 0);
  CHECK(fs::is_symlink(s.tmp / "out" / "link.onnx"));
  CHECK(import_onnx((s.tmp / "out" / "real.onnx").string()).graph.initializers.count("W_quantized") == 1);
  // A FIFO (another process may be reading it), a character device, a folder: refused, untouched.
  REQUIRE(::mkfifo((s.tmp / "out" / "pipe.onnx").c_str(), 0644) == 0);
  check_one_line_error(run_cli(s.args(s.tmp / "out" / "pipe.onnx")), 2, "is a FIFO; give a new path or a regular file");
  CHECK(fs::is_fifo(s.tmp / "out" / "pipe.onnx"));
  check_one_line_error(run_cli(s.args("/dev/null")), 2, "'/dev/null': it is a character device");
  CHECK(fs::is_character_file("/dev/null"));
  fs::create_directories(s.tmp / "out" / "dir.onnx");
  check_one_line_error(run_cli(s.args(s.tmp / "out" / "dir.onnx")), 2, "is a folder");
  // A dangling link: its target is created.
  fs::create_symlink("new.onnx", s.tmp / "out" / "dangling.onnx");
  REQUIRE(run_cli(s.args(s.tmp / "out" / "dangling.onnx")).exit_code == 0);
  CHECK(fs::is_regular_file(s.tmp / "out" / "new.onnx"));
  CHECK(fs::is_symlink(s.tmp / "out" / "dangling.onnx"));
}

TEST_CASE("quantize with an empty calibration set is exit 2") {
  QuantizeSetup s;
  write_npz((s.tmp / "empty.npz").string(), {{"X", at::zeros({0, 16, 8, 8})}});
  check_one_line_error(run_cli("quantize " + q(s.tmp / "fp.onnx") + " -o " + q(s.tmp / "out" / "q.onnx") + " --data " +
                               q(s.tmp / "empty.npz")),
                       2, "holds no samples");
  CHECK(fs::is_empty(s.tmp / "out"));
}

TEST_CASE("two quantize runs into one folder: the second waits for the first, or gives up") {
  QuantizeSetup s;
  const fs::path out = s.tmp / "out" / "int8.onnx";
  auto held = std::make_unique<OutputLock>((s.tmp / "out").string(), 0);
  check_one_line_error(run_cli_with("EDGEPACK_LOCK_WAIT=0.5", s.args(out)), 1, "another edgepack run");
  CHECK(!fs::exists(out));
  // Without -q, the waiting run says so on stderr; the lock is released once it has (however
  // long a loaded machine takes to get the run there), at the latest after 60 s.
  const fs::path err = s.tmp / "second.err";
  std::thread release([&] {
    for (int i = 0; i < 600 && slurp_if_present(err).find("waiting for another edgepack run") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held.reset();
  });
  const int status = std::system(fmt::format("EDGEPACK_LOCK_WAIT=90 '{}' {} >/dev/null 2>'{}'", EDGEPACK_BINARY,
                                             s.args(out, false), err.string()).c_str());
  release.join();
  const std::string second_err = slurp(err);
  CAPTURE(second_err);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(second_err.find("waiting for another edgepack run") != std::string::npos);
  std::string why;
  CHECK(valid_int8(out, &why));
}

TEST_CASE("quantize killed with SIGKILL at random points leaves nothing or a complete INT8 model") {
  QuantizeSetup s;
  const std::string model = slurp(s.tmp / "fp.onnx");
  const std::string cmd =
      fmt::format("exec '{}' {} >/dev/null 2>&1", EDGEPACK_BINARY, s.args(s.tmp / "out" / "int8.onnx"));
  KillTestReport r = kill_test(cmd, s.tmp / "out", [](const fs::path& dir, const std::vector<std::string>& files, std::string* why) {
    if (files.empty()) return true;
    if (files != std::vector<std::string>{"int8.onnx"}) {
      *why = fmt::format("unexpected files: {}", fmt::join(files, ", "));
      return false;
    }
    return valid_int8(dir / "int8.onnx", why);
  });
  MESSAGE(fmt::format("kill test: complete run {:.2f} s, {} killed, {} finished first", r.full_run_seconds, r.killed,
                      r.finished));
  for (const auto& f : r.failures) FAIL_CHECK(f);
  CHECK(r.killed >= 4);
  CHECK(slurp(s.tmp / "fp.onnx") == model);
}

}  // TEST_SUITE
