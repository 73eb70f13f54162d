// edgepack quantize MODEL -o OUT.onnx --data DATA [--calib ...] [...]: calibrated FP32 -> INT8
// post-training quantization to QDQ ONNX. The pass options come from the quantize pass's own
// declaration (see `edgepack passes`).
// edgepack quantize MODEL -o OUT.onnx --weights int8|int4 [--group-size ...] [--stream]: weight-only,
// the quantize-weights pass, in memory or streamed one weight at a time (the same output graph):
// streamed when the model would not fit the memory budget, or when --stream asks for it.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/human_format.h"
#include "core/output_lock.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "quantize/quantize_weights.h"
#include "quantize/weight_only_file.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct QuantizeArgs {
  std::string model, output, data;
  std::vector<std::string> input_shapes;   // TorchScript models
  int64_t calib_samples = 256;
  int64_t batch_size = 32;
  bool json = false;
  std::string eval_data;
  std::map<std::string, std::string> options;          // the quantize pass's
  // Weight-only quantization with the quantize-weights pass; --stream only changes how it runs.
  std::string weights;           // "" = calibrated INT8 QDQ; else int8 or int4
  bool stream = false, no_stream = false;   // neither: streamed when the model would not fit in memory
  std::optional<double> memory_budget_mb;
  bool asymmetric = false;
  std::map<std::string, std::string> weight_options;   // the quantize-weights pass's
};

// The quantize-weights step the weight-only flags stand for (only the options given, so the
// printed pipeline stays short), validated as a pipeline would be.
Pipeline weights_pipeline(const QuantizeArgs& a) {
  std::map<std::string, std::string> options = a.weight_options;
  options["bits"] = a.weights == "int4" ? "4" : "8";
  if (a.asymmetric) options["symmetric"] = "false";
  if (a.options.count("exclude")) options["exclude"] = a.options.at("exclude");
  return parse_pipeline(print_pipeline({PipelineStep{"quantize-weights", options}}));
}

// The per-layer table of the quantize pass's sensitivity report (quantize/sensitivity.h to_json).
void print_sensitivity(const nlohmann::json& s, const std::string& source) {
  const bool sqnr = s["metric"] == "sqnr";
  std::vector<std::vector<std::string>> rows = {
      {"layer", sqnr ? std::string("SQNR (dB)") : fmt::format("{} lost (points)", s["metric"].get<std::string>())}};
  for (const auto& l : s["layers"])
    rows.push_back({l["node"].get<std::string>(), fmt::format("{:.2f}", l[sqnr ? "sqnr_db" : "loss_points"].get<double>())});
  const auto kept = s["kept_fp32"].get<std::vector<std::string>>();
  fmt::print("per-layer sensitivity (one layer in INT8 at a time, on {}):\n{}", source, format_table(rows, {false, true}));
  const std::string except = kept.empty() ? "" : fmt::format(" except {}", fmt::join(kept, ", "));
  if (sqnr) fmt::print("all layers INT8{}: SQNR {:.2f} dB\n", except, s["final_sqnr_db"].get<double>());
  else fmt::print("all layers INT8{}: {:.2f} points lost\n", except, s["final_loss_points"].get<double>());
}

// --- weight-only: the quantize-weights pass, in memory or streamed (quantize/weight_only_file.h) ---
int quantize_weights(const QuantizeArgs& a, const Globals& globals) {
  WeightOnlyFileRequest request;
  request.input = a.model;
  request.output = a.output;
  request.load = cli_load_options(a.input_shapes, globals);
  request.step = weights_pipeline(a).at(0);
  request.data = a.data;
  request.calib_samples = a.calib_samples;
  request.batch_size = a.batch_size;
  request.execution = a.stream ? Execution::Stream : a.no_stream ? Execution::InMemory : Execution::Auto;
  request.progress = progress_bars(globals, a.json);
  if (a.memory_budget_mb) request.memory_budget_bytes = static_cast<int64_t>(*a.memory_budget_mb * 1024 * 1024);
  const WeightOnlyFileResult r = quantize_weights_file(request, [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  });
  const ExecutionChoice& how = r.execution;
  const std::string given = print_pipeline({request.step});
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", given}, {"stream", how.stream},
                        {"execution", {{"stream", how.stream}, {"reason", how.reason}, {"model_bytes", how.model_bytes},
                                       {"estimated_peak_bytes", how.estimated_peak_bytes}, {"budget_bytes", how.budget_bytes}}},
                        {"input_bytes", r.input_bytes}, {"output_bytes", r.output_bytes}};
    if (r.streamed) {
      j["quantized_weights"] = r.streamed->weights;
      j["quantized_layers"] = r.streamed->layers;
      j["weight_bytes_in"] = r.streamed->weight_bytes_in;
      j["weight_bytes_out"] = r.streamed->weight_bytes_out;
      j["largest_weight_bytes"] = r.streamed->largest_weight_bytes;
    } else {
      j["calibration_samples"] = r.calibration_samples;
      if (!a.data.empty()) j["calibration_digest"] = r.calibration_digest;
      j["stats"] = r.steps.back().result.stats;
      j["seconds"] = r.steps.back().seconds;
      j["steps"] = steps_json(r.steps);
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  const std::string data_file = r.external_data ? fmt::format(" + {}.data", fs::path(a.output).filename().string()) : "";
  fmt::print("quantized the weights of {} to {}{} -> {}{}\n", a.model, a.weights, how.stream ? " (streamed)" : "", a.output, data_file);
  fmt::print("  pipeline        {}\n", r.streamed ? given : print_pipeline(r.pipeline));
  fmt::print("  execution       {}\n", how.reason);
  if (r.streamed) {
    fmt::print("  weights         {} -> {} ({})\n", human_bytes(static_cast<double>(r.streamed->weight_bytes_in)),
               human_bytes(static_cast<double>(r.streamed->weight_bytes_out)),
               size_change(double(r.streamed->weight_bytes_in), double(r.streamed->weight_bytes_out)));
    fmt::print("  largest weight  {}\n", human_bytes(static_cast<double>(r.streamed->largest_weight_bytes)));
  } else {
    if (!a.data.empty()) fmt::print("  calibration     {} from {}\n", counted(double(r.calibration_samples), "sample"), a.data);
    for (const auto& [k, v] : r.steps.back().result.stats) fmt::print("  {:<22} {}\n", k, grouped(v));
  }
  fmt::print("  file size       {} -> {} ({})\n", human_bytes(static_cast<double>(r.input_bytes)),
             human_bytes(static_cast<double>(r.output_bytes)), size_change(double(r.input_bytes), double(r.output_bytes)));
  return 0;
}
// ------------------------------------------------------------------------------------------

int quantize_model(const QuantizeArgs& a, const Globals& globals) {
  if (a.weights.empty() && (!a.weight_options.empty() || a.asymmetric))
    throw InputError("--group-size, --method, --format, --symmetric/--asymmetric and --damp need --weights int8|int4");
  if (!a.weights.empty()) return quantize_weights(a, globals);
  if (a.stream || a.no_stream || a.memory_budget_mb)
    throw InputError("--stream, --no-stream and --memory-budget-mb need --weights int8|int4 (weight-only quantization streams; "
                     "calibration does not)");
  if (a.data.empty()) throw InputError("quantize needs --data (calibration samples), or --weights for weight-only");
  resolve_output_path(a.output);   // a FIFO, device or folder is refused before any work
  refuse_overwriting_input(a.output, a.model, "model");
  refuse_overwriting_input(a.output, a.data, "data");
  refuse_overwriting_input(a.output, a.eval_data, "data");
  auto log = [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  // Held until the model is written: a second run into the same folder waits (or gives up).
  OutputLock lock(output_folder(a.output), lock_wait_seconds(), log);
  Model model = load_cli_model(a.model, a.input_shapes, globals);
  Dataset data = load_dataset(a.data, model, DatasetOptions{a.calib_samples});
  bind_shapes_from_data(model, data, globals);
  if (data.samples == 0)
    throw InputError(fmt::format("'{}' holds no samples; quantize needs calibration data", a.data));
  PassContext ctx;
  ctx.calibration = feed_batches(data, model, a.batch_size);
  if (!globals.quiet) ctx.log = log;
  ctx.progress = progress_bars(globals, a.json);
  // Sensitivity and mixed precision measure on --eval-data, else on the calibration data.
  std::optional<Dataset> eval;
  if (!a.eval_data.empty()) eval = load_dataset(a.eval_data, model);
  ctx.eval = eval ? &*eval : &data;

  const Pipeline pipeline = parse_pipeline(print_pipeline({PipelineStep{"quantize", a.options}}));   // validates the values
  auto reports = run_pipeline(model, pipeline, ctx);
  save_onnx(model, a.output);
  const PassResult& result = reports.back().result;
  const auto& stats = result.stats;
  const nlohmann::json* sensitivity = result.details.contains("sensitivity") ? &result.details["sensitivity"] : nullptr;
  if (sensitivity && !a.json) print_sensitivity(*sensitivity, ctx.eval->source);
  const auto in_bytes = fs::file_size(a.model), out_bytes = fs::file_size(a.output);
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)},
                        {"calibration_samples", data.samples}, {"calibration_digest", data.digest()},
                        {"input_bytes", in_bytes}, {"output_bytes", out_bytes}, {"stats", stats},
                        {"seconds", reports.back().seconds}, {"steps", steps_json(reports)}};
    if (sensitivity) j["sensitivity"] = *sensitivity;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("quantized {} -> {}\n", a.model, a.output);
  fmt::print("  pipeline        {}\n", print_pipeline(canonicalize(pipeline)));
  fmt::print("  calibration     {} from {}\n", counted(double(data.samples), "sample"), a.data);
  for (const auto& [k, v] : stats) fmt::print("  {:<22} {}\n", k, grouped(v));
  fmt::print("  file size       {} -> {} ({})\n", human_bytes(double(in_bytes)), human_bytes(double(out_bytes)),
             size_change(double(in_bytes), double(out_bytes)));
  return 0;
}

}  // namespace

void add_quantize(CLI::App& app, Action& action, const Globals& globals) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "FP32 -> INT8 post-training quantization to QDQ ONNX, calibrated on your data");
  cmd->add_option("model", a->model, "ONNX or TorchScript model (FP32)")->required();
  cmd->add_option("-o,--output", a->output, "Quantized ONNX model to write")->required();
  cmd->add_option("--data", a->data, "Calibration data: .npz (arrays by input name), .npy, or a folder of .pb tensors (with --weights: for --method gptq)");
  add_input_shape_option(cmd, a->input_shapes);
  cmd->add_option("--calib-samples", a->calib_samples, "Calibration samples to use (0 = all)")->capture_default_str()->check(at_least(0));
  cmd->add_option("--batch-size", a->batch_size, "Samples per calibration run")->capture_default_str()->check(at_least(1));
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  cmd->add_option("--eval-data", a->eval_data, "Data to measure sensitivity on (default: the calibration data)");
  cmd->add_option("--weights", a->weights,
                  "Weight-only quantization of MatMul/Gemm weights, activations stay float (the quantize-weights pass)")
      ->check(one_of({"int8", "int4"}));
  CLI::Option* stream = cmd->add_flag("--stream", a->stream,
                                      "With --weights (ONNX, round to nearest): the same output, made one weight at a time, mapped in "
                                      "and written to external data, so peak memory follows the largest layer. Default: streamed "
                                      "when the model would not fit --memory-budget-mb in memory");
  cmd->add_flag("--no-stream", a->no_stream, "With --weights: in memory whatever the model's size")->excludes(stream);
  cmd->add_option("--memory-budget-mb", a->memory_budget_mb,
                  "With --weights: memory the run may use, MiB (default: 80% of the memory available now)")
      ->check(at_least(1));
  add_pass_options(cmd, "quantize", a->options);
  // The weight-only options are the quantize-weights pass's own (bits comes from --weights).
  add_pass_options(cmd, "quantize-weights", a->weight_options, {"bits", "exclude"}, {{"group", "--group-size"}});
  cmd->add_flag("--asymmetric", a->asymmetric, "With --weights: an integer zero point per group (--symmetric false)");
  cmd->footer("Examples: edgepack quantize teacher.onnx -o teacher.int8.onnx --data train.npz --calib entropy\n"
              "          edgepack quantize lm.onnx -o lm.int4.onnx --weights int4 --group-size 128 --method gptq --data calib.npz");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return quantize_model(*a, globals); }; });
}

}  // namespace edgepack::cli
