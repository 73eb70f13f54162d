// edgepack prune MODEL -o OUT.onnx [--ratio R] [--mode ...] [--criterion ...] [...]: structured
// channel pruning with dependency groups, unstructured or N:M sparsity. The pass options come
// from the prune pass's own declaration (see `edgepack passes`).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "core/human_format.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "distill/finetune.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"
#include "passes/pipeline.h"
#include "passes/prune.h"
#include "passes/prune_sensitivity.h"

#include <algorithm>

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct PruneArgs {
  std::string model, output, data, eval_data;
  std::vector<std::string> input_shapes;
  int64_t calib_samples = 256;
  int64_t batch_size = 32;
  bool json = false;
  int64_t finetune_epochs = 0;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::map<std::string, std::string> options;
};

// The table of the prune pass's sensitivity report (passes/prune_sensitivity.h to_json).
void print_sensitivity(const nlohmann::json& s) {
  const auto ratios = s["ratios"].get<std::vector<double>>();
  std::vector<std::vector<std::string>> rows = {{"layer group", "channels"}};
  for (double r : ratios) rows[0].push_back(fmt::format("{:.0f}% pruned", 100 * r));
  for (const auto& g : s["groups"]) {
    rows.push_back({g["label"].get<std::string>(), std::to_string(g["channels"].get<int64_t>())});
    for (size_t i = 0; i < ratios.size(); ++i)
      rows.back().push_back(fmt::format("{:.2f} ({:.0f}% MACs)", g["loss_points"][i].get<double>(),
                                        100 * g["macs_fraction"][i].get<double>()));
  }
  std::vector<bool> right(rows[0].size(), true);
  right[0] = false;
  fmt::print("pruning sensitivity ({} points lost with one group pruned; model MACs left):\n{}", s["metric"].get<std::string>(),
             format_table(rows, right));
}

int prune_model(const PruneArgs& a, const Globals& globals) {
  resolve_output_path(a.output);   // a FIFO, device or folder is refused before any work
  if (fs::exists(a.output) && same_file(a.model, a.output))
    throw InputError(fmt::format("refusing to write over the input model '{}'", a.model));
  if (a.finetune_epochs > 0 && a.data.empty()) throw InputError("--finetune-epochs needs training data (--data)");
  Model original = load_cli_model(a.model, a.input_shapes, globals);
  PassContext ctx;
  std::optional<Dataset> data, eval, train;
  if (!a.data.empty()) {
    data = load_dataset(a.data, original, DatasetOptions{a.calib_samples});
    bind_shapes_from_data(original, *data, globals);
    ctx.calibration = feed_batches(*data, original, a.batch_size);
  }
  if (!a.eval_data.empty()) eval = load_dataset(a.eval_data, original);
  if (!globals.quiet) ctx.log = [](const std::string& line) { fmt::print(stderr, "edgepack: {}\n", line); };
  ctx.quiet = globals.quiet;
  ctx.progress = progress_bars(globals, a.json);

  Pipeline pipeline = {PipelineStep{"prune", a.options}};
  pipeline = parse_pipeline(print_pipeline(pipeline));   // validates the values as a pipeline would
  const PruneSettings options = prune_options().parse(pipeline[0].options);
  if (options.sensitivity) {
    if (options.mode != "structured") throw InputError("--sensitivity applies to structured pruning (--mode structured)");
    if (!eval && !data) throw InputError("--sensitivity needs --eval-data (or --data) to measure on");
  }
  // Sensitivity measures on --eval-data, else on the (--calib-samples) data; the fine-tune trains
  // on all of --data and scores each epoch on --eval-data.
  ctx.eval = eval ? &*eval : data ? &*data : nullptr;
  if (a.finetune_epochs > 0) {
    train = load_dataset(a.data, original);
    ctx.train = &*train;
    distill::FinetuneSettings f;
    f.epochs = a.finetune_epochs;
    f.batch_size = a.batch_size;
    f.lr = a.lr;
    f.seed = static_cast<int64_t>(a.seed);
    f.keep_zeros = options.mode != "structured" ? "true" : "false";
    pipeline.push_back(make_step("finetune", distill::finetune_options(), f));
  }
  Model model = original;
  auto reports = run_pipeline(model, pipeline, ctx);
  // The fine-tune scores on --eval-data only.
  const StepReport& prune_step = *std::find_if(reports.begin(), reports.end(), [](const StepReport& r) { return r.pass == "prune"; });
  const nlohmann::json& details = prune_step.result.details;
  if (details.contains("sensitivity") && !a.json) print_sensitivity(details["sensitivity"]);
  if (details.contains("layer_ratios")) {
    // The resolved pipeline: the per-layer ratios the measured curves chose, so it reproduces
    // this model without measuring again.
    PipelineStep& step = pipeline[0];
    step.options["layer-ratios"] = details["layer_ratios"].get<std::string>();
    step.options["ratio"] = "0";
    for (const char* measured : {"sensitivity", "target-macs", "target-params"}) step.options.erase(measured);
  }
  nlohmann::json groups_json = nlohmann::json::array();
  if (options.mode == "structured") {
    Model folded = original;
    fold_constants(folded);
    for (const ChannelGroup& g : analyze_channel_groups(folded, excluded_names(options)).groups)
      groups_json.push_back({{"label", g.label()}, {"sources", g.sources}, {"channels", g.channels},
                             {"prunable", g.prunable()}, {"blocked", g.blocked}});
  }
  save_onnx(model, a.output);

  const auto& stats = prune_step.result.stats;
  const auto in_bytes = fs::file_size(a.model), out_bytes = fs::file_size(a.output);
  std::optional<double> before, after;
  if (eval && eval->has_labels()) {
    before = evaluate(original, *eval).accuracy;
    after = evaluate(model, *eval).accuracy;
  }
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)},
                        {"input_bytes", in_bytes}, {"output_bytes", out_bytes}, {"stats", stats},
                        {"seconds", prune_step.seconds}, {"steps", steps_json(reports)}};
    if (data) j["data_digest"] = data->digest();
    if (before) j["accuracy"] = {{"before", *before}, {"after", *after}, {"drop_points", 100 * (*before - *after)}};
    if (details.contains("sensitivity")) {
      j["sensitivity"] = details["sensitivity"];
      if (details.contains("layer_ratios")) j["sensitivity"]["layer_ratios"] = details["layer_ratios"];
    }
    if (a.finetune_epochs > 0) j["finetune"] = {{"epochs", reports.back().result.details["epochs"]}, {"seed", a.seed}, {"lr", a.lr}};
    j["groups"] = groups_json;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("pruned {} -> {}\n", a.model, a.output);
  fmt::print("  pipeline        {}\n", print_pipeline(canonicalize(pipeline)));
  if (details.contains("layer_ratios")) fmt::print("  layer ratios    {}\n", details["layer_ratios"].get<std::string>());
  if (stats.count("macs_before")) {
    fmt::print("  channels        {} of {} prunable removed ({} of {} layer groups prunable)\n", grouped(stats.at("channels_removed")),
               grouped(stats.at("prunable_channels")), grouped(stats.at("prunable_groups")), grouped(stats.at("groups")));
    fmt::print("  MACs            {} -> {} ({:.1f}%)\n", human_count(stats.at("macs_before")), human_count(stats.at("macs_after")),
               100 * stats.at("macs_after") / std::max(1.0, stats.at("macs_before")));
    fmt::print("  params          {} -> {} ({:.1f}%)\n", human_count(stats.at("params_before")), human_count(stats.at("params_after")),
               100 * stats.at("params_after") / std::max(1.0, stats.at("params_before")));
  } else {
    for (const auto& [k, v] : stats) fmt::print("  {:<15} {}\n", k, grouped(v));
  }
  for (const auto& g : groups_json)
    if (!g["prunable"].get<bool>() && !globals.quiet)
      fmt::print("  kept whole      {} ({} channels): {}\n", g["label"].get<std::string>(), g["channels"].get<int64_t>(),
                 g["blocked"].get<std::string>());
  fmt::print("  file size       {} -> {}\n", human_bytes(double(in_bytes)), human_bytes(double(out_bytes)));
  if (before)
    fmt::print("  accuracy        {:.2f}% -> {:.2f}% ({:+.2f} points) on {}\n", 100 * *before, 100 * *after,
               100 * (*after - *before), eval->source);
  return 0;
}

}  // namespace

void add_prune(CLI::App& app, Action& action, const Globals& globals) {
  auto a = std::make_shared<PruneArgs>();
  CLI::App* cmd = app.add_subcommand("prune", "Remove channels (dependency-aware, structured) or weights (unstructured, N:M)");
  cmd->add_option("model", a->model, "ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, a->input_shapes);
  cmd->add_option("-o,--output", a->output, "Pruned ONNX model to write")->required();
  cmd->add_option("--data", a->data, "Data for the activation/taylor criteria and sensitivity: .npz, .npy or a .pb folder");
  cmd->add_option("--calib-samples", a->calib_samples, "Samples of --data to use (0 = all)")->capture_default_str()->check(at_least(0));
  cmd->add_option("--batch-size", a->batch_size, "Samples per run")->capture_default_str()->check(at_least(1));
  cmd->add_option("--eval-data", a->eval_data, "Data to measure accuracy (before/after, sensitivity) on");
  cmd->add_option("--finetune-epochs", a->finetune_epochs,
                  "Recovery fine-tune after pruning: epochs over --data, the unpruned model as teacher (KD at T=4 + labels)")
      ->capture_default_str();
  cmd->add_option("--lr", a->lr, "Fine-tune learning rate (AdamW, cosine schedule)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Fine-tune shuffling seed")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  add_pass_options(cmd, "prune", a->options);
  cmd->footer("Examples:\n  edgepack prune teacher.onnx -o small.onnx --ratio 0.5\n"
              "  edgepack prune teacher.onnx -o small.onnx --target-macs 0.5 --sensitivity --eval-data test.npz\n"
              "  edgepack prune teacher.onnx -o sparse.onnx --mode nm --nm 2:4");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return prune_model(*a, globals); }; });
}

}  // namespace edgepack::cli
