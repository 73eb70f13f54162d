// edgepack prune MODEL -o OUT.onnx [--ratio R] [--mode ...] [--criterion ...] [...]: structured
// channel pruning with dependency groups, unstructured or N:M sparsity. The pass options come
// from the prune pass's own declaration (see `edgepack passes`).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>

#include "cli/commands.h"
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

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct PruneArgs {
  std::string model, output, data, eval_data;
  std::vector<std::string> input_shapes;
  int64_t calib_samples = 256;
  int64_t batch_size = 32;
  bool json = false;
  bool sensitivity = false;
  int64_t finetune_epochs = 0;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::map<std::string, std::string> options;
};

nlohmann::json sensitivity_table(const PruneSensitivity& s, bool print) {
  nlohmann::json j = {{"metric", s.metric}, {"ratios", s.ratios}};
  std::vector<std::vector<std::string>> rows = {{"layer group", "channels"}};
  for (double r : s.ratios) rows[0].push_back(fmt::format("{:.0f}% pruned", 100 * r));
  for (const auto& g : s.groups) {
    rows.push_back({g.label, std::to_string(g.channels)});
    for (size_t i = 0; i < s.ratios.size(); ++i)
      rows.back().push_back(fmt::format("{:.2f} ({:.0f}% MACs)", 100 * g.loss[i], 100 * g.macs_fraction[i]));
    j["groups"].push_back({{"layer", g.layer}, {"label", g.label}, {"channels", g.channels}, {"loss_points", g.loss},
                           {"macs_fraction", g.macs_fraction}});
  }
  for (auto& g : j["groups"])
    for (auto& v : g["loss_points"]) v = 100 * v.get<double>();
  if (print) {
    std::vector<bool> right(rows[0].size(), true);
    right[0] = false;
    fmt::print("pruning sensitivity ({} points lost with one group pruned; model MACs left):\n{}", s.metric,
               format_table(rows, right));
  }
  return j;
}

int prune_model(const PruneArgs& a, const Globals& globals) {
  if (fs::exists(a.output) && same_file(a.model, a.output))
    throw InputError(fmt::format("refusing to write over the input model '{}'", a.model));
  if (a.finetune_epochs > 0 && a.data.empty()) throw InputError("--finetune-epochs needs training data (--data)");
  const Model original = load_cli_model(a.model, a.input_shapes);
  PassContext ctx;
  std::optional<Dataset> data, eval;
  if (!a.data.empty()) {
    data = load_dataset(a.data, original, DatasetOptions{a.calib_samples});
    ctx.calibration = feed_batches(*data, original, a.batch_size);
  }
  if (!a.eval_data.empty()) eval = load_dataset(a.eval_data, original);
  if (!globals.quiet) ctx.log = [](const std::string& line) { fmt::print(stderr, "edgepack: {}\n", line); };

  Pipeline pipeline = {PipelineStep{"prune", a.options}};
  pipeline = parse_pipeline(print_pipeline(pipeline));   // validates the values as a pipeline would
  PassOptions options(&find_pass("prune").options, pipeline[0].options);
  nlohmann::json sensitivity_json;
  if (a.sensitivity) {
    if (options.get("mode") != "structured") throw InputError("--sensitivity applies to structured pruning (--mode structured)");
    if (!eval && !data) throw InputError("--sensitivity needs --eval-data (or --data) to measure on");
    const PruneSensitivity s = prune_sensitivity(original, eval ? *eval : *data, options, ctx);
    sensitivity_json = sensitivity_table(s, !a.json);
    const double target_macs = options.get_float("target-macs"), target_params = options.get_float("target-params");
    if (target_macs > 0 || target_params > 0) {
      // The budget is spent by the measured curves: explicit per-layer ratios, nothing else pruned.
      pipeline[0].options["layer-ratios"] = allocate_by_sensitivity(original, s, options, ctx, target_macs, target_params);
      pipeline[0].options["ratio"] = "0";
      pipeline[0].options.erase("target-macs");
      pipeline[0].options.erase("target-params");
      sensitivity_json["layer_ratios"] = pipeline[0].options["layer-ratios"];
    }
  }
  Model model = original;
  auto reports = run_pipeline(model, pipeline, ctx);
  std::optional<distill::TrainResult> finetune;
  if (a.finetune_epochs > 0) {
    const Dataset train = load_dataset(a.data, original);
    distill::FinetuneOptions f;
    f.epochs = a.finetune_epochs;
    f.batch_size = a.batch_size;
    f.lr = a.lr;
    f.seed = a.seed;
    f.keep_zeros = options.get("mode") != "structured";
    f.eval = eval ? &*eval : nullptr;
    f.quiet = globals.quiet;
    finetune = distill::finetune(model, original, train, f);
  }
  nlohmann::json groups_json = nlohmann::json::array();
  if (options.get("mode") == "structured") {
    Model folded = original;
    fold_constants(folded);
    for (const ChannelGroup& g : analyze_channel_groups(folded, excluded_names(options)).groups)
      groups_json.push_back({{"label", g.label()}, {"sources", g.sources}, {"channels", g.channels},
                             {"prunable", g.prunable()}, {"blocked", g.blocked}});
  }
  save_onnx(model, a.output);

  const auto& stats = reports.at(0).result.stats;
  const auto in_bytes = fs::file_size(a.model), out_bytes = fs::file_size(a.output);
  std::optional<double> before, after;
  if (eval && eval->has_labels()) {
    before = evaluate(original, *eval).accuracy;
    after = evaluate(model, *eval).accuracy;
  }
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)},
                        {"input_bytes", in_bytes}, {"output_bytes", out_bytes}, {"stats", stats},
                        {"seconds", reports.at(0).seconds}};
    if (data) j["data_digest"] = data->digest();
    if (before) j["accuracy"] = {{"before", *before}, {"after", *after}, {"drop_points", 100 * (*before - *after)}};
    if (!sensitivity_json.is_null()) j["sensitivity"] = sensitivity_json;
    if (finetune) {
      nlohmann::json epochs = nlohmann::json::array();
      for (const auto& e : finetune->epochs)
        epochs.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"eval_accuracy", e.eval_accuracy ? nlohmann::json(*e.eval_accuracy) : nlohmann::json()}});
      j["finetune"] = {{"epochs", epochs}, {"seed", a.seed}, {"lr", a.lr}};
    }
    j["groups"] = groups_json;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("pruned {} -> {}\n", a.model, a.output);
  fmt::print("  pipeline        {}\n", print_pipeline(pipeline));
  if (stats.count("macs_before")) {
    fmt::print("  channels        {} of {} prunable removed ({} of {} layer groups prunable)\n", stats.at("channels_removed"),
               stats.at("prunable_channels"), stats.at("prunable_groups"), stats.at("groups"));
    fmt::print("  MACs            {:.4g} -> {:.4g} ({:.1f}%)\n", stats.at("macs_before"), stats.at("macs_after"),
               100 * stats.at("macs_after") / std::max(1.0, stats.at("macs_before")));
    fmt::print("  params          {:.4g} -> {:.4g} ({:.1f}%)\n", stats.at("params_before"), stats.at("params_after"),
               100 * stats.at("params_after") / std::max(1.0, stats.at("params_before")));
  } else {
    for (const auto& [k, v] : stats) fmt::print("  {:<15} {}\n", k, v);
  }
  for (const auto& g : groups_json)
    if (!g["prunable"].get<bool>() && !globals.quiet)
      fmt::print("  kept whole      {} ({} channels): {}\n", g["label"].get<std::string>(), g["channels"].get<int64_t>(),
                 g["blocked"].get<std::string>());
  fmt::print("  file size       {:.1f} KiB -> {:.1f} KiB\n", in_bytes / 1024.0, out_bytes / 1024.0);
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
  cmd->add_option("--calib-samples", a->calib_samples, "Samples of --data to use (0 = all)")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Samples per run")->capture_default_str();
  cmd->add_option("--eval-data", a->eval_data, "Data to measure accuracy (before/after, sensitivity) on");
  cmd->add_flag("--sensitivity", a->sensitivity,
                "Prune one layer group at a time at 25/50/75% and report the loss; with --target-macs/--target-params, "
                "spend the budget where it hurts least");
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
