// edgepack eval MODEL --data DATA [--reference MODEL2] [--metric M] [--limit N] [--batch-size B] [--json]
#include <fmt/format.h>
#include <unistd.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/model_loader.h"
#include "core/onnx_import.h"

namespace edgepack::cli {

namespace {

struct EvalArgs {
  std::string model;
  std::vector<std::string> input_shapes;
  std::string data;
  std::string reference;
  int64_t limit = 0;
  int64_t batch_size = EvalOptions{}.batch_size;
  std::string metric = "auto";
  bool json = false;
};

std::string percent(double v) { return fmt::format("{:.2f}%", 100 * v); }

int eval(const EvalArgs& args, const Globals& globals) {
  Model model = load_cli_model(args.model, args.input_shapes, globals);
  std::optional<Model> reference;
  // The shapes describe the inputs both models share; an ONNX reference carries its own.
  if (!args.reference.empty())
    reference = load_cli_model(args.reference, is_torchscript_file(args.reference) ? args.input_shapes
                                                                                    : std::vector<std::string>{}, globals);
  Dataset data = load_dataset(args.data, model, DatasetOptions{args.limit});
  bind_shapes_from_data(model, data, globals);

  EvalOptions options;
  options.batch_size = args.batch_size;
  options.reference = reference ? &*reference : nullptr;
  // A progress line only for a person watching; redirected stderr stays one line per message.
  if (!globals.quiet && ::isatty(STDERR_FILENO))
    options.progress = [](int64_t done, int64_t total) {
      fmt::print(stderr, "\r{}/{} samples{}", done, total, done == total ? "\n" : "");
    };
  EvalResult r = evaluate(model, data, options);
  const std::optional<Score> score =
      score_of(r, data, args.metric == "auto" ? std::nullopt : std::optional<Metric>(parse_metric(args.metric)));

  if (args.json) {
    nlohmann::json out = r;
    out["model"] = args.model;
    out["data"] = args.data;
    out["data_digest"] = data.digest();
    out["score"] = score ? nlohmann::json{{"metric", metric_name(score->metric)}, {"value", score->value}} : nlohmann::json();
    out["reference"] = reference ? nlohmann::json(args.reference) : nlohmann::json(nullptr);
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  const std::string out = fmt::format("output '{}'", r.output.name);
  std::vector<std::vector<std::string>> rows = {
      {"metric", "value"},
      {"samples", std::to_string(r.samples)},
      {r.language_model ? "top-1 token accuracy" : "top-1 accuracy", r.accuracy ? percent(*r.accuracy) : "- (no labels)"},
      {out + " mean", fmt::format("{:.6g}", r.output.mean)},
      {out + " std", fmt::format("{:.6g}", r.output.std)},
      {out + " min", fmt::format("{:.6g}", r.output.min)},
      {out + " max", fmt::format("{:.6g}", r.output.max)}};
  if (r.language_model) {
    rows.insert(rows.begin() + 3, {{"tokens", std::to_string(r.language_model->tokens)},
                                   {"cross-entropy per token (nats)", fmt::format("{:.4f}", r.language_model->cross_entropy)},
                                   {"perplexity", fmt::format("{:.3f}", r.language_model->perplexity)}});
  }
  if (score) {
    const std::string value = score->metric == Metric::Sqnr     ? fmt::format("{:.2f} dB", score->value)
                              : score->metric == Metric::Cosine ? fmt::format("{:.6f}", score->value)
                                                                : percent(score->value);
    rows.insert(rows.begin() + 1, {fmt::format("score ({})", metric_name(score->metric)), value});
  }
  if (r.agreement) {
    rows.push_back({"SQNR vs reference", fmt::format("{:.2f} dB", r.agreement->sqnr_db)});
    if (r.agreement->outputs.size() > 1)
      for (const auto& o : r.agreement->outputs)
        rows.push_back({fmt::format("SQNR of output '{}'", o.name), fmt::format("{:.2f} dB", o.sqnr_db)});
    rows.push_back({"mean cosine vs reference", fmt::format("{:.6f}", r.agreement->mean_cosine)});
    // The argmax of each sample's whole output: meaningful for class scores, not for maps or boxes.
    rows.push_back({"top-1 match vs reference", percent(r.agreement->top1_match)});
    rows.push_back({"max abs error vs reference", fmt::format("{:.6g}", r.agreement->max_abs_error)});
  }
  fmt::print("{} on {} ({})\n", args.model, args.data, data.digest());
  fmt::print("{}", format_table(rows, {false, true}));
  return 0;
}

}  // namespace

void add_eval(CLI::App& app, Action& action, const Globals& globals) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Top-1 accuracy (perplexity for language models), output statistics and agreement with a reference "
              "model over a dataset");
  cmd->add_option("model", args->model, "ONNX model or TorchScript archive (.pt, with --input-shape)")->required();
  add_input_shape_option(cmd, args->input_shapes);
  cmd->add_option("-d,--data", args->data,
                  ".npz (one array per graph input, optional int64 `labels` [N], or [N,T] per token), .npy "
                  "(single-input models) or a folder of ONNX test data (input_K.pb, or test_data_set_N/input_K.pb)")
      ->required();
  cmd->add_option("-r,--reference", args->reference, "Reference model (e.g. the uncompressed original) to compare with");
  cmd->add_option("--limit", args->limit, "Evaluate the first N samples only (0 = all)")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()))
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", args->batch_size, "Samples per run (a model with a fixed batch dim gets its own)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--metric", args->metric,
                  "The score to report: top1 (accuracy; agreement with --reference without labels), token (per-token "
                  "accuracy), sqnr (dB of the least faithful output vs --reference), cosine (vs --reference); auto: "
                  "accuracy with labels, else sqnr with a reference")
      ->capture_default_str()
      ->check(one_of({"auto", "top1", "token", "sqnr", "cosine"}));
  cmd->add_flag("--json", args->json,
                "Print one JSON object: samples, accuracy, score, output, agreement, language_model, data_digest");
  cmd->callback([&action, &globals, args] { action = [args, &globals] { return eval(*args, globals); }; });
}

}  // namespace edgepack::cli
