// edgepack bench MODEL [--input-shape NAME:DIMS ...] [--batch B] [--warmup W] [--repeat R] [--compare OTHER ...] [--json]
// Host latency in our executor (core/benchmark.h); --threads is the global option.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/benchmark.h"
#include "core/human_format.h"
#include "core/progress.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> compare;
  std::vector<std::string> input_shapes;
  int64_t batch = 0;
  int warmup = 3;
  int repeat = 20;
  bool json = false;
};

int bench(const BenchArgs& args, const Globals& globals) {
  std::vector<std::string> paths{args.model};
  paths.insert(paths.end(), args.compare.begin(), args.compare.end());
  std::vector<Model> models;
  for (const std::string& path : paths) {
    models.push_back(load_cli_model(path, args.input_shapes, globals));
    bind_batch(models.back(), args.batch);
  }
  std::vector<const Model*> pointers;
  for (const Model& m : models) pointers.push_back(&m);
  BenchOptions options;
  options.warmup = args.warmup;
  options.repeat = args.repeat;
  std::unique_ptr<Progress> progress;
  const int64_t total_runs = static_cast<int64_t>(models.size()) * (args.warmup + 1 + args.repeat);
  int64_t done = 0;
  if (!globals.quiet && !args.json) {
    progress = std::make_unique<Progress>(fmt::format("bench {} model{}", models.size(), models.size() == 1 ? "" : "s"), total_runs, false);
    options.progress = [&](size_t, int, int) { progress->update(++done, ""); };
  }
  const std::vector<BenchStats> stats = bench_models(pointers, options);
  if (progress) progress->finish("");
  const int threads = at::get_num_threads();

  if (args.json) {
    nlohmann::json j = {{"threads", threads}, {"warmup", args.warmup}, {"repeat", args.repeat}, {"models", nlohmann::json::array()}};
    for (size_t m = 0; m < stats.size(); ++m) {
      const BenchStats& s = stats[m];
      j["models"].push_back({{"path", paths[m]},
                             {"batch", s.batch},
                             {"median_ms", s.median_ms},
                             {"p90_ms", s.p90_ms},
                             {"min_ms", s.min_ms},
                             {"mean_ms", s.mean_ms},
                             {"samples_per_s", s.samples_per_s},
                             {"run_memory_bytes", s.run_memory_bytes},
                             {"weight_bytes", s.weight_bytes},
                             {"speedup_vs_first", stats[0].median_ms / s.median_ms},
                             {"times_ms", s.times_ms}});
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("bench: batch {}, {} thread{}, {} warm-up + {} timed run{} per model{}\n", stats[0].batch, threads,
             threads == 1 ? "" : "s", args.warmup, args.repeat, args.repeat == 1 ? "" : "s",
             models.size() > 1 ? ", interleaved" : "");
  std::vector<std::vector<std::string>> rows{{"model", "median", "p90", "min", "samples/s", "run memory", "weights"}};
  if (models.size() > 1) rows[0].push_back("vs first");
  for (size_t m = 0; m < stats.size(); ++m) {
    const BenchStats& s = stats[m];
    std::vector<std::string> row{fs::path(paths[m]).filename().string(), human_ms(s.median_ms), human_ms(s.p90_ms), human_ms(s.min_ms),
                                 grouped(s.samples_per_s), s.run_memory_bytes < 0 ? "?" : human_bytes(double(s.run_memory_bytes)),
                                 human_bytes(double(s.weight_bytes))};
    // "1.30x faster" or "2.22x slower": the larger time over the smaller, so no one reads 0.45x.
    if (models.size() > 1)
      row.push_back(m == 0 ? "-" : s.median_ms <= stats[0].median_ms ? fmt::format("{:.2f}x faster", stats[0].median_ms / s.median_ms)
                                                                      : fmt::format("{:.2f}x slower", s.median_ms / stats[0].median_ms));
    rows.push_back(std::move(row));
  }
  fmt::print("{}", format_table(rows, {false, true, true, true, true, true, true, true}));
  return 0;
}

}  // namespace

void add_bench(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure a model's host latency in edgepack's executor (median, p90, min, samples/s, run memory); --compare times others interleaved");
  cmd->add_option("model", args->model, "ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  cmd->add_option("--compare", args->compare, "Other models to time in the same run, interleaved; prints each one's speed-up over MODEL (repeatable)");
  add_input_shape_option(cmd, args->input_shapes);
  cmd->add_option("--batch", args->batch, "Batch size: every input's dim 0 (default: the model's, 1 when free)")->check(at_least(1));
  cmd->add_option("--warmup", args->warmup, "Untimed runs first (one more measures run memory)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "Timed runs per model")->check(at_least(1))->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the result as JSON (every timed run included)");
  cmd->callback([&action, &globals, args] { action = [args, &globals] { return bench(*args, globals); }; });
}

}  // namespace edgepack::cli
