// INT8 across architectures, against PyTorch FX post-training quantization, in one run:
// for every model of the zoo (bench/quantize_zoo.py writes it: torchvision nets, a ViT and a
// DBNet-style detector with seeded random weights and realistic BatchNorm statistics, their
// calibration and evaluation images, PyTorch's FP32 outputs and FX INT8 outputs on the same
// images), each calibration method of `quantize` and the default, measured the same way as
// the peer:
//   - SQNR (dB) of the outputs against PyTorch FP32 over the evaluation images, ours run by
//     onnxruntime on the written QDQ file (what users deploy), and top-1 agreement;
//   - file size INT8 / FP32;
//   - calibration + rewrite seconds, and their ratio to FX's prepare + calibrate + convert;
//   - onnxruntime latency of the FP32 file and the default INT8 file, batch 1, in one process:
//     the INT8 speed-up.
// usage: bench_quantize_zoo [--dir ZOO] [--models a,b] [--methods minmax,mse] [--threads N]
//                           [--repeat R] [--json FILE]
//   ZOO defaults to build/zoo; make it with `/usr/bin/python3 bench/quantize_zoo.py build/zoo`.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "compress/all_passes.h"
#include "core/executor.h"
#include "core/npy.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "passes/pipeline.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"
#include "tests/ort_bridge.h"

using namespace edgepack;
using namespace edgepack::test;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

// Top-1 agreement for [N, classes] outputs; NaN for maps.
double top1_agreement(const at::Tensor& ref, const at::Tensor& y) {
  if (ref.dim() != 2) return NAN;
  return (ref.argmax(1) == y.argmax(1)).to(at::kDouble).mean().item<double>();
}

struct Row {
  std::string method;
  double sqnr = NAN, top1 = NAN, size_ratio = NAN, seconds = NAN;
  std::string error;
};

at::Tensor array(const NamedArrays& arrays, const std::string& key, const fs::path& file) {
  for (const auto& [name, t] : arrays)
    if (name == key) return t;
  throw std::runtime_error(fmt::format("{} has no array '{}'", file.string(), key));
}

// A number of the peer's JSON, NaN when it is missing or null (FX failed, or a map output).
double number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

std::string cell(double v, const char* spec = "{:.1f}") { return std::isnan(v) ? "-" : fmt::format(fmt::runtime(spec), v); }

}  // namespace

int main(int argc, char** argv) {
  register_all_passes();
  // As bench_quantize: passive OpenMP waiting, set before libgomp loads (re-exec once).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  std::string dir = "build/zoo", models_arg, methods_arg = "minmax,percentile,entropy,mse", json_path;
  int threads = 2, repeat = 20;
  CLI::App app{"INT8 on a zoo of PyTorch exports: every calibration method vs PyTorch FX PTQ (SQNR, top-1 agreement, onnxruntime speed, calibration time)", "bench_quantize_zoo"};
  app.add_option("--dir", dir, "The zoo folder (made by /usr/bin/python3 bench/quantize_zoo.py DIR)")->capture_default_str();
  app.add_option("--models", models_arg, "Only these zoo models, joined by ','");
  app.add_option("--methods", methods_arg, "Calibration methods, joined by ','")->capture_default_str();
  app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "Timed onnxruntime runs per file")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--json", json_path, "Also write every row as JSON here");
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    const fs::path zoo = dir;
    if (!fs::exists(zoo / "zoo.json")) {
      fmt::print(stderr, "bench_quantize_zoo: no {} (make it: /usr/bin/python3 bench/quantize_zoo.py {})\n",
                 (zoo / "zoo.json").string(), dir);
      return 2;
    }
    if (!onnxruntime_available()) {
      fmt::print(stderr, "bench_quantize_zoo: needs onnxruntime-node (scripts/setup.sh)\n");
      return 2;
    }
    nlohmann::json peers;
    std::ifstream(zoo / "zoo.json") >> peers;
    std::vector<std::string> models = models_arg.empty() ? std::vector<std::string>{} : split(models_arg);
    if (models.empty())
      for (const auto& [name, _] : peers.items()) models.push_back(name);
    std::vector<std::string> methods = split(methods_arg);
    methods.insert(methods.begin(), "default");
    set_threads(threads);
    TempDir tmp;

    nlohmann::json out = nlohmann::json::object();
    std::vector<std::vector<std::string>> table;
    for (const std::string& name : models) {
      if (!peers.contains(name)) {
        fmt::print(stderr, "bench_quantize_zoo: '{}' is not in {}\n", name, (zoo / "zoo.json").string());
        return 2;
      }
      const nlohmann::json& peer = peers[name];
      const fs::path fp32_path = zoo / name / "fp32.onnx";
      const Model fp = import_onnx(fp32_path.string());
      const NamedArrays calib_arrays = read_npz((zoo / name / "calib.npz").string());
      const NamedArrays eval_arrays = read_npz((zoo / name / "eval.npz").string());
      const at::Tensor calib = array(calib_arrays, "input", zoo / name / "calib.npz");
      const at::Tensor eval_x = array(eval_arrays, "input", zoo / name / "eval.npz");
      const at::Tensor ref = array(eval_arrays, "fp32", zoo / name / "eval.npz");
      std::vector<Feeds> batches;
      for (int64_t s = 0; s < calib.size(0); s += 8) batches.push_back({{"input", calib.narrow(0, s, std::min<int64_t>(8, calib.size(0) - s))}});

      std::vector<Row> rows;
      std::vector<OrtJob> jobs;
      for (const std::string& method : methods) {
        Row r;
        r.method = method;
        const std::string pipeline = method == "default" ? "quantize" : fmt::format("quantize{{calib={}}}", method);
        const fs::path path = tmp / fmt::format("{}_{}.onnx", name, method);
        try {
          Model q = fp;
          PassContext ctx;
          ctx.calibration = batches;
          const auto t0 = std::chrono::steady_clock::now();
          run_pipeline(q, parse_pipeline(pipeline), ctx);
          r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          save_onnx(q, path.string());
          r.size_ratio = double(fs::file_size(path)) / double(fs::file_size(fp32_path));
          jobs.push_back({path.string(), {{"input", eval_x}}});
        } catch (const std::exception& e) {
          r.error = e.what();
        }
        rows.push_back(r);
      }
      // One node process: the eval outputs of every file, then FP32 and default INT8 timed at batch 1.
      const at::Tensor one = eval_x.narrow(0, 0, 1);
      const bool have_default = rows[0].error.empty();
      auto results = run_onnxruntime(jobs, threads, 1);
      std::vector<OrtJob> timing = {{fp32_path.string(), {{"input", one}}}};
      if (have_default) timing.push_back({(tmp / fmt::format("{}_default.onnx", name)).string(), {{"input", one}}});
      auto times = run_onnxruntime(timing, threads, repeat + 1);
      size_t k = 0;
      for (Row& r : rows) {
        if (!r.error.empty()) continue;
        const OrtResult& res = results[k++];
        if (!res.error.empty()) {
          r.error = "onnxruntime: " + res.error;
          continue;
        }
        r.sqnr = sqnr_db(ref, res.outputs.at(0));
        r.top1 = top1_agreement(ref, res.outputs.at(0));
      }
      double speedup = NAN;
      if (have_default && times.size() == 2 && times[0].error.empty() && times[1].error.empty())
        speedup = median_after_warmup(times[0].ms) / median_after_warmup(times[1].ms);

      const double fx = number(peer, "fx_sqnr_db"), fx_seconds = number(peer, "fx_calib_seconds");
      nlohmann::json j = {{"what", peer.value("what", "")}, {"fx_sqnr_db", peer.contains("fx_sqnr_db") ? peer["fx_sqnr_db"] : nlohmann::json()},
                          {"fx_error", peer.value("fx_error", "")}, {"ort_int8_speedup", std::isnan(speedup) ? nlohmann::json() : nlohmann::json(speedup)}};
      std::vector<std::string> line = {name};
      for (const Row& r : rows) {
        j["methods"][r.method] = {{"sqnr_db", std::isfinite(r.sqnr) ? nlohmann::json(r.sqnr) : nlohmann::json()},
                                  {"top1_agreement", std::isnan(r.top1) ? nlohmann::json() : nlohmann::json(r.top1)},
                                  {"size_ratio", r.size_ratio},
                                  {"seconds", r.seconds},
                                  {"error", r.error}};
        line.push_back(r.error.empty() ? cell(r.sqnr) : "error");
        if (!r.error.empty()) fmt::print(stderr, "bench_quantize_zoo: {} {}: {}\n", name, r.method, r.error);
      }
      line.push_back(cell(fx));
      line.push_back(cell(rows[0].sqnr - fx, "{:+.1f}"));
      line.push_back(cell(rows[0].top1 * 100, "{:.0f}%"));
      line.push_back(cell(number(peer, "fx_top1_agreement") * 100, "{:.0f}%"));
      line.push_back(cell(rows[0].size_ratio, "{:.2f}"));
      line.push_back(cell(rows[0].seconds / fx_seconds, "{:.2f}"));
      line.push_back(cell(speedup, "{:.2f}x"));
      table.push_back(line);
      out[name] = j;
      fmt::print("{}: {}\n", name, fmt::join(line.begin() + 1, line.end(), "  "));
      std::fflush(stdout);
    }

    std::vector<std::string> header = {"model"};
    for (const std::string& m : methods) header.push_back(m == "default" ? "default dB" : m);
    for (const char* h : {"FX dB", "default-FX", "top-1 agr.", "FX agr.", "size", "calib/FX", "ORT INT8 speed-up"}) header.push_back(h);
    fmt::print("\nSQNR vs FP32 (dB) over the evaluation images; INT8 run by onnxruntime; {} thread(s), latency median of {}\n",
               threads, repeat);
    std::string rule = "|";
    for (size_t i = 0; i < header.size(); ++i) rule += i ? "---:|" : "---|";
    fmt::print("| {} |\n{}\n", fmt::join(header, " | "), rule);
    double sum_gap = 0;
    int gaps = 0;
    for (const auto& line : table) {
      fmt::print("| {} |\n", fmt::join(line, " | "));
    }
    for (const auto& [name, j] : out.items()) {
      const auto& d = j["methods"]["default"]["sqnr_db"];
      if (d.is_number() && j["fx_sqnr_db"].is_number()) {
        sum_gap += d.get<double>() - j["fx_sqnr_db"].get<double>();
        ++gaps;
      }
    }
    if (gaps) fmt::print("\nmean default - FX: {:+.2f} dB over {} models\n", sum_gap / gaps, gaps);
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(1) << "\n";
    return 0;
  });
}
