// Models larger than RAM, in one run on this machine: a seeded MLP (default 16 MatMul layers of
// 8192 x 8192 + Relu, 4.3 GB of FP32 external data) is generated layer by layer, quantized to
// INT8 weights by `edgepack quantize --weights int8` with and without `--stream`, each under
// /usr/bin/time -v (peak RSS, wall time), and the INT8 models are run in our executor against
// the FP32 one on a seeded input (relative error, cosine similarity).
// usage: bench_stream [--layers L] [--width W] [--batch B] [--dir DIR] [--skip-in-memory]
//   DIR (default: the system temp folder) needs about 1.6x the model's size free; the files
//   are removed at the end.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "core/executor.h"
#include "core/human_format.h"
#include "core/onnx_import.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/large_model.h"

using namespace edgepack;
using namespace edgepack::test;
namespace fs = std::filesystem;

namespace {

struct Measured {
  int exit_code = -1;
  double peak_rss_bytes = 0;
  double seconds = 0;
};

// Runs the CLI under /usr/bin/time -v and reads its peak RSS and wall time from the report.
Measured time_cli(const std::string& args, const fs::path& report) {
  const std::string cmd = fmt::format("/usr/bin/time -v -o {} {} {} > /dev/null", q(report), EDGEPACK_BINARY, args);
  Measured m;
  const int status = std::system(cmd.c_str());
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(report);
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, std::regex(R"(Maximum resident set size \(kbytes\): (\d+))")))
      m.peak_rss_bytes = std::stod(match[1]) * 1024;
    if (std::regex_search(line, match, std::regex(R"(Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+))")))
      m.seconds = (match[1].matched ? std::stod(match[1]) * 3600 : 0) + std::stod(match[2]) * 60 + std::stod(match[3]);
  }
  return m;
}

uintmax_t model_bytes(const fs::path& model) {
  uintmax_t n = fs::file_size(model);
  if (fs::exists(model.string() + ".data")) n += fs::file_size(model.string() + ".data");
  return n;
}

struct OutputError {
  double max_rel = 0, mean_rel = 0, cosine = 0;
};

// Relative error of `y` against the reference `ref`, per element over max|ref| (outputs of a
// random MLP cross zero, so an element-wise ratio would divide by near-zero values).
OutputError compare(const at::Tensor& y, const at::Tensor& ref) {
  at::Tensor d = (y - ref).abs() / ref.abs().max();
  OutputError e;
  e.max_rel = d.max().item<double>();
  e.mean_rel = d.mean().item<double>();
  e.cosine = at::cosine_similarity(y.flatten(), ref.flatten(), 0).item<double>();
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  int layers = 16;
  int64_t width = 8192, batch = 8;
  fs::path dir = fs::temp_directory_path();
  bool in_memory = true;
  CLI::App app{"Streaming INT8 of a model larger than memory vs the in-memory pass: time, peak memory, bitwise agreement", "bench_stream"};
  bool skip_in_memory = false;
  app.add_option("--layers", layers, "MatMul layers of the synthetic model")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--width", width, "Width of each square weight")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", batch, "Calibration batch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dir", dir, "Folder for the model and results (needs about 1.6x the FP32 size free)")->check(CLI::ExistingDirectory);
  app.add_flag("--skip-in-memory", skip_in_memory, "Time only the streaming path");
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    in_memory = !skip_in_memory;
    const double fp32_bytes = 4.0 * layers * width * width;
    // FP32 model + two INT8 results (a quarter each) + slack.
    const double needed = fp32_bytes * 1.6;
    const auto space = fs::space(dir);
    if (static_cast<double>(space.available) < needed) {
      fmt::print(stderr, "bench_stream: {} has {} free, the run needs about {}\n", dir.string(),
                 human_bytes(static_cast<double>(space.available)), human_bytes(needed));
      return 1;
    }
    const fs::path work = dir / fmt::format("edgepack-bench-stream-{}", ::getpid());
    fs::create_directories(work);
    struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } cleanup{work};

    const fs::path fp32 = work / "mlp.onnx", streamed = work / "mlp.int8.stream.onnx", whole = work / "mlp.int8.onnx";
    auto t0 = std::chrono::steady_clock::now();
    write_mlp_model(fp32.string(), layers, width, 1);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("generated {} MatMul layers of {}x{}: {} in {:.1f} s\n", layers, width, width,
               human_bytes(static_cast<double>(model_bytes(fp32))), gen_s);

    Measured s = time_cli(fmt::format("quantize {} -o {} --weights int8 --stream", q(fp32), q(streamed)), work / "time-stream.txt");
    if (s.exit_code != 0) {
      fmt::print(stderr, "bench_stream: the streaming quantize failed (exit {})\n", s.exit_code);
      return 1;
    }
    Measured w;
    if (in_memory) {
      w = time_cli(fmt::format("quantize {} -o {} --weights int8", q(fp32), q(whole)), work / "time-whole.txt");
      if (w.exit_code != 0) fmt::print(stderr, "bench_stream: the in-memory quantize failed (exit {})\n", w.exit_code);
    }

    // Outputs: FP32 reference vs each INT8 model, same seeded input, our executor.
    at::manual_seed(11);
    at::Tensor x = at::randn({batch, width});
    auto run = [&](const fs::path& p) { return Executor(import_onnx(p.string())).run(std::vector<at::Tensor>{x})[0]; };
    at::Tensor ref = run(fp32);
    at::Tensor y_stream = run(streamed);
    const OutputError es = compare(y_stream, ref);
    OutputError ew;
    bool same_outputs = false;
    if (in_memory && w.exit_code == 0) {
      at::Tensor y_whole = run(whole);
      ew = compare(y_whole, ref);
      same_outputs = y_whole.equal(y_stream);
    }

    const double gb = 1e9;
    fmt::print("\n| path | model FP32 | INT8 output | peak RSS | model / peak RSS | time | max rel err | mean rel err | cosine |\n");
    fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    auto row = [&](const char* name, const Measured& m, const fs::path& out, const OutputError& e) {
      fmt::print("| {} | {:.2f} GB | {:.2f} GB | {:.2f} GB | {:.1f}x | {:.1f} s | {:.2e} | {:.2e} | {:.6f} |\n", name,
                 model_bytes(fp32) / gb, model_bytes(out) / gb, m.peak_rss_bytes / gb, model_bytes(fp32) / m.peak_rss_bytes,
                 m.seconds, e.max_rel, e.mean_rel, e.cosine);
    };
    row("--stream", s, streamed, es);
    if (in_memory && w.exit_code == 0) {
      row("in memory", w, whole, ew);
      fmt::print("\nstreamed and in-memory INT8 models give identical outputs: {}\n", same_outputs ? "yes" : "NO");
    }
    fmt::print("goal: peak RSS <= 1.5 GB while streaming ({}), cosine >= 0.999 ({})\n",
               s.peak_rss_bytes <= 1.5 * gb ? "met" : "NOT met", es.cosine >= 0.999 ? "met" : "NOT met");
    return 0;
  });
}
