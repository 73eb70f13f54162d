// edgepack compress MODEL --target ID[,ID...] --data DATA [--eval-data DATA] --out DIR: one
// artifact folder per target (compress/compress.h does the work; docs/compress.md). Budgets that
// are not met exit 3 with everything still written.
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "cli/commands.h"
#include "compress/compress.h"
#include "compress/recipe.h"
#include "export/report.h"

namespace edgepack::cli {

namespace {

struct CompressArgs {
  std::string model, data, eval_data, out, pipeline, recipe, target_file;
  std::vector<std::string> targets, input_shapes;
  std::optional<double> max_latency_ms, max_size_mb, max_memory_mb, max_accuracy_drop, min_sqnr_db;
  std::optional<int64_t> calib_samples, epochs, host_repeat;
  bool force = false;
  bool json = false;
  bool allow_unrecovered = false;
};

// The recipe (when given), then every flag given on the command line over it.
CompressRequest request_of(const CompressArgs& a, const Globals& globals) {
  CompressRequest r = a.recipe.empty() ? CompressRequest{} : read_recipe(a.recipe);
  r.model = a.model;
  r.load = cli_load_options(a.input_shapes, globals);
  auto over = [](auto& field, const auto& given) {
    if (!given.empty()) field = given;
  };
  over(r.targets, a.targets);
  over(r.target_file, a.target_file);
  over(r.data, a.data);
  over(r.eval_data, a.eval_data);
  over(r.out, a.out);
  over(r.pipeline, a.pipeline);
  auto over_optional = [](auto& field, const auto& given) {
    if (given) field = *given;
  };
  over_optional(r.budgets.max_latency_ms, a.max_latency_ms);
  over_optional(r.budgets.max_size_mb, a.max_size_mb);
  over_optional(r.budgets.max_memory_mb, a.max_memory_mb);
  over_optional(r.budgets.max_accuracy_drop, a.max_accuracy_drop);
  over_optional(r.budgets.min_sqnr_db, a.min_sqnr_db);
  over_optional(r.calib_samples, a.calib_samples);
  over_optional(r.epochs, a.epochs);
  if (a.host_repeat) r.host_repeat = static_cast<int>(*a.host_repeat);
  r.force = a.force;
  r.allow_unrecovered = r.allow_unrecovered || a.allow_unrecovered;
  return r;
}

int run_compress(const CompressArgs& a, const Globals& globals) {
  const CompressRequest request = request_of(a, globals);
  const CompressResult result = compress(
      request, [&](const std::string& line) { if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line); }, globals.quiet,
      progress_bars(globals, a.json));
  const nlohmann::json summary = to_json(result.summary);
  if (a.json) {
    fmt::print("{}\n", summary.dump(2));
  } else {
    const size_t n = result.summary.targets.size();
    fmt::print("{}", render_summary_markdown(summary));
    fmt::print("\nwrote {} ({} target{}){}\n", request.out, n, n == 1 ? "" : "s",
               result.summary.passed ? "" : "; some budgets were NOT met (exit 3)");
  }
  return result.summary.passed ? 0 : 3;
}

}  // namespace

void add_compress(CLI::App& app, Action& action, const Globals& globals) {
  auto a = std::make_shared<CompressArgs>();
  CLI::App* cmd = app.add_subcommand("compress", "One model in, one artifact per target device out, each sized to its envelope, with reports");
  cmd->add_option("model", a->model, "ONNX model (FP32) or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, a->input_shapes);
  cmd->add_option("--target", a->targets, "Target ids, comma-separated (see `edgepack targets`)")->delimiter(',');
  cmd->add_option("--target-file", a->target_file, "JSON/YAML file adding or overriding target profiles (docs/targets.md)");
  cmd->add_option("--data", a->data, "Calibration/training data: .npz (arrays by input name, optional int64 labels), .npy or .pb folder");
  cmd->add_option("--eval-data", a->eval_data, "Data to measure accuracy before and after on (labels needed for accuracy)");
  cmd->add_option("--out", a->out, "Output folder: one subfolder per target, summary.json, summary.md");
  cmd->add_option("--pipeline", a->pipeline, "Use this pipeline for every target instead of planning one (see `edgepack passes`)");
  cmd->add_option("--recipe", a->recipe, "YAML recipe: pipeline, data, eval_data, targets, out, budgets (the command line wins)");
  cmd->add_option("--max-latency-ms", a->max_latency_ms, "Budget: estimated latency per inference on the target");
  cmd->add_option("--max-size-mb", a->max_size_mb, "Budget: artifact file size (MiB)");
  cmd->add_option("--max-memory-mb", a->max_memory_mb, "Budget: weights + peak activations (MiB)");
  cmd->add_option("--max-accuracy-drop", a->max_accuracy_drop, "Gate: top-1 points lost on --eval-data (needs labels)");
  cmd->add_option("--min-sqnr", a->min_sqnr_db,
                  "Gate without labels: SQNR (dB) of output 0 against the input model on --eval-data, else on the "
                  "calibration samples (every manifest reports it)");
  cmd->add_option("--calib-samples", a->calib_samples, "Calibration samples taken from --data [default: 256]")->check(at_least(1));
  cmd->add_option("--epochs", a->epochs, "Distillation epochs when the plan shrinks the model [default: 3]")->check(at_least(1));
  cmd->add_option("--host-repeat", a->host_repeat,
                  "Timed runs of each artifact on this machine, interleaved with the input model, recorded beside the "
                  "estimate (manifest \"host\"; 0 = none) [default: 10]")
      ->check(at_least(0));
  cmd->add_flag("--force", a->force, "Replace an existing output folder (whole)");
  cmd->add_flag("--allow-unrecovered", a->allow_unrecovered,
                "Without labels, also plan pruning for a model with no float output (only indices or masks): "
                "finetune cannot match such outputs, so the SQNR in the manifest shows the cost");
  cmd->add_flag("--json", a->json, "Print summary.json on stdout");
  cmd->footer("Exit codes: 0 every budget met; 2 bad input; 3 a budget or gate not met (artifacts and reports still written).\n"
              "Example: edgepack compress teacher.onnx --target qcs2290,qcs6490,jetson-agx-orin --data train.npz "
              "--eval-data test.npz --out artifacts --max-accuracy-drop 0.5");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return run_compress(*a, globals); }; });
}

}  // namespace edgepack::cli
