// edgepack quantize MODEL -o OUT.onnx --data DATA [--calib ...] [...]: calibrated FP32 -> INT8
// post-training quantization to QDQ ONNX. The pass options come from the quantize pass's own
// declaration (see `edgepack passes`).
// edgepack quantize MODEL -o OUT.onnx --weights int8|int4 [--group-size ...] [--stream]: weight-only,
// the quantize-weights pass; --stream runs its rewrite one weight at a time (same output graph).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/human_format.h"
#include "core/output_lock.h"
#include "core/onnx_export.h"
#include "passes/pipeline.h"
#include "quantize/sensitivity.h"
#include "quantize/stream_quantize.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct QuantizeArgs {
  std::string model, output, data;
  std::vector<std::string> input_shapes;   // TorchScript models
  int64_t calib_samples = 256;
  int64_t batch_size = 32;
  bool json = false;
  bool sensitivity = false;
  double max_drop = -1;          // percentage points; < 0 = no budget
  std::string eval_data;
  std::map<std::string, std::string> options;
  // Weight-only quantization with the quantize-weights pass; --stream only changes how it runs.
  std::string weights;           // "" = calibrated INT8 QDQ; else int8 or int4
  bool stream = false;
  int64_t group_size = -1;       // -1 = not given (per channel)
  std::string method, format;    // "" = not given (rtn, qdq)
  bool asymmetric = false;
  double damp = -1;              // < 0 = the pass's default
};

// The quantize-weights step the weight-only flags stand for (only the options given, so the
// printed pipeline stays short), validated as a pipeline would be.
Pipeline weights_pipeline(const QuantizeArgs& a) {
  std::map<std::string, std::string> options = {{"bits", a.weights == "int4" ? "4" : "8"}};
  if (a.group_size >= 0) options["group"] = std::to_string(a.group_size);
  if (!a.method.empty()) options["method"] = a.method;
  if (!a.format.empty()) options["format"] = a.format;
  if (a.asymmetric) options["symmetric"] = "false";
  if (a.damp >= 0) options["damp"] = fmt::format("{}", a.damp);
  if (a.options.count("exclude")) options["exclude"] = a.options.at("exclude");
  return parse_pipeline(print_pipeline({PipelineStep{"quantize-weights", options}}));
}

// --- weight-only, streamed: the pass's rewrite one weight at a time (quantize/stream_quantize.h) ---
int quantize_weights_streaming(const QuantizeArgs& a, const Pipeline& pipeline, const Globals& globals) {
  const PassInfo& info = find_pass("quantize-weights");
  StreamQuantizeOptions options;
  options.settings = weight_only_settings(PassOptions(&info.options, pipeline.at(0).options));
  if (options.settings.gptq)
    throw InputError("--stream rounds to nearest only: --method gptq needs the whole model's activations (drop --stream)");
  if (!a.data.empty()) throw InputError("--stream takes no --data: round to nearest needs no calibration");
  if (!a.input_shapes.empty() || is_torchscript_file(a.model))
    throw InputError("--stream reads ONNX models only (their external data is mapped); quantize a TorchScript model without --stream");
  auto log = [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  OutputLock lock(output_folder(a.output), lock_wait_seconds(), log);
  options.log = log;
  StreamQuantizeResult r = stream_quantize_weights(a.model, a.output, options);
  uintmax_t out_bytes = fs::file_size(a.output) + fs::file_size(a.output + ".data");
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)}, {"stream", true},
                        {"quantized_weights", r.weights}, {"quantized_layers", r.layers},
                        {"weight_bytes_in", r.weight_bytes_in}, {"weight_bytes_out", r.weight_bytes_out},
                        {"largest_weight_bytes", r.largest_weight_bytes}, {"output_bytes", out_bytes}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("quantized {} weights of {} to {} (streamed) -> {} + {}.data\n", r.weights, a.model, a.weights, a.output,
             fs::path(a.output).filename().string());
  fmt::print("  pipeline        {}\n", print_pipeline(pipeline));
  fmt::print("  weights         {} -> {} ({:.2f}x smaller)\n", human_bytes(static_cast<double>(r.weight_bytes_in)),
             human_bytes(static_cast<double>(r.weight_bytes_out)),
             double(r.weight_bytes_in) / std::max<int64_t>(r.weight_bytes_out, 1));
  fmt::print("  largest weight  {}\n", human_bytes(static_cast<double>(r.largest_weight_bytes)));
  fmt::print("  output files    {}\n", human_bytes(static_cast<double>(out_bytes)));
  return 0;
}

// --- weight-only with the quantize-weights pass, in memory: INT8/INT4, groups, RTN or GPTQ -----
int quantize_weights(const QuantizeArgs& a, const Globals& globals) {
  refuse_overwriting_input(a.output, a.model, "model");
  refuse_overwriting_input(a.output, a.data, "data");
  const Pipeline pipeline = weights_pipeline(a);
  if (a.stream) return quantize_weights_streaming(a, pipeline, globals);
  auto log = [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  OutputLock lock(output_folder(a.output), lock_wait_seconds(), log);
  Model model = load_cli_model(a.model, a.input_shapes);
  PassContext ctx;
  if (!globals.quiet) ctx.log = log;
  Dataset data;
  if (!a.data.empty()) {
    data = load_dataset(a.data, model, DatasetOptions{a.calib_samples});
    ctx.calibration = feed_batches(data, model, a.batch_size);
  }
  auto reports = run_pipeline(model, pipeline, ctx);
  save_onnx(model, a.output);

  const auto& stats = reports.at(0).result.stats;
  // A model past protobuf's limit is saved with external data.
  const bool external = fs::exists(a.output + ".data");
  const auto in_bytes = fs::file_size(a.model);
  const auto out_bytes = fs::file_size(a.output) + (external ? fs::file_size(a.output + ".data") : 0);
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)}, {"stream", false},
                        {"calibration_samples", data.samples}, {"input_bytes", in_bytes}, {"output_bytes", out_bytes},
                        {"stats", stats}, {"seconds", reports.at(0).seconds}};
    if (!a.data.empty()) j["calibration_digest"] = data.digest();
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("quantized the weights of {} to {} -> {}{}\n", a.model, a.weights, a.output,
             external ? fmt::format(" + {}.data", fs::path(a.output).filename().string()) : "");
  fmt::print("  pipeline        {}\n", print_pipeline(pipeline));
  if (!a.data.empty()) fmt::print("  calibration     {} samples from {}\n", data.samples, a.data);
  for (const auto& [k, v] : stats) fmt::print("  {:<22} {}\n", k, v);
  fmt::print("  file size       {} -> {} ({:.2f}x smaller)\n", human_bytes(static_cast<double>(in_bytes)),
             human_bytes(static_cast<double>(out_bytes)), double(in_bytes) / std::max<uintmax_t>(out_bytes, 1));
  return 0;
}
// ------------------------------------------------------------------------------------------

int quantize_model(const QuantizeArgs& a, const Globals& globals) {
  if (a.weights.empty() && (a.group_size >= 0 || !a.method.empty() || !a.format.empty() || a.asymmetric || a.damp >= 0))
    throw InputError("--group-size, --method, --format, --asymmetric and --damp need --weights int8|int4");
  if (!a.weights.empty()) return quantize_weights(a, globals);
  if (a.stream) throw InputError("--stream needs --weights int8|int4 (weight-only quantization streams; calibration does not)");
  if (a.data.empty()) throw InputError("quantize needs --data (calibration samples), or --weights for weight-only");
  refuse_overwriting_input(a.output, a.model, "model");
  refuse_overwriting_input(a.output, a.data, "data");
  refuse_overwriting_input(a.output, a.eval_data, "data");
  auto log = [&globals](const std::string& line) {
    if (!globals.quiet) fmt::print(stderr, "edgepack: {}\n", line);
  };
  // Held until the model is written: a second run into the same folder waits (or gives up).
  OutputLock lock(output_folder(a.output), lock_wait_seconds(), log);
  Model model = load_cli_model(a.model, a.input_shapes);
  Dataset data = load_dataset(a.data, model, DatasetOptions{a.calib_samples});
  if (data.samples == 0)
    throw InputError(fmt::format("'{}' holds no samples; quantize needs calibration data", a.data));
  PassContext ctx;
  ctx.calibration = feed_batches(data, model, a.batch_size);
  if (!globals.quiet) ctx.log = log;

  std::map<std::string, std::string> options = a.options;
  nlohmann::json sensitivity_json;
  if (a.sensitivity || a.max_drop >= 0) {
    Dataset eval = a.eval_data.empty() ? data : load_dataset(a.eval_data, model);
    SensitivityReport r = quantization_sensitivity(model, ctx.calibration, eval, options, a.max_drop < 0 ? -1 : a.max_drop / 100);
    if (!r.kept_fp32.empty()) {
      std::string user = options.count("exclude") ? options["exclude"] + "+" : "";
      options["exclude"] = user + fmt::format("{}", fmt::join(r.kept_fp32, "+"));
    }
    sensitivity_json = {{"metric", r.metric}, {"kept_fp32", r.kept_fp32}, {"final_loss_points", 100 * r.final_loss}};
    std::vector<std::vector<std::string>> rows = {{"layer", fmt::format("{} lost (points)", r.metric)}};
    for (const auto& l : r.layers) {
      rows.push_back({l.node, fmt::format("{:.2f}", 100 * l.loss)});
      sensitivity_json["layers"].push_back({{"node", l.node}, {"loss_points", 100 * l.loss}});
    }
    if (!a.json) {
      fmt::print("per-layer sensitivity (one layer in INT8 at a time, on {}):\n{}", eval.source, format_table(rows, {false, true}));
      fmt::print("all layers INT8{}: {:.2f} points lost\n",
                 r.kept_fp32.empty() ? "" : fmt::format(" except {}", fmt::join(r.kept_fp32, ", ")), 100 * r.final_loss);
    }
    if (a.max_drop >= 0 && r.final_loss * 100 > a.max_drop)
      warn(globals, fmt::format("even with every layer kept in FP32 the loss is {:.2f} points", 100 * r.final_loss));
  }
  Pipeline pipeline = {PipelineStep{"quantize", options}};
  pipeline = parse_pipeline(print_pipeline(pipeline));   // validates the values as a pipeline would
  auto reports = run_pipeline(model, pipeline, ctx);
  save_onnx(model, a.output);

  const auto& stats = reports.at(0).result.stats;
  const auto in_bytes = fs::file_size(a.model), out_bytes = fs::file_size(a.output);
  if (a.json) {
    nlohmann::json j = {{"input", a.model}, {"output", a.output}, {"pipeline", print_pipeline(pipeline)},
                        {"calibration_samples", data.samples}, {"calibration_digest", data.digest()},
                        {"input_bytes", in_bytes}, {"output_bytes", out_bytes}, {"stats", stats},
                        {"seconds", reports.at(0).seconds}};
    if (!sensitivity_json.is_null()) j["sensitivity"] = sensitivity_json;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("quantized {} -> {}\n", a.model, a.output);
  fmt::print("  pipeline        {}\n", print_pipeline(pipeline));
  fmt::print("  calibration     {} samples from {}\n", data.samples, a.data);
  for (const auto& [k, v] : stats) fmt::print("  {:<22} {}\n", k, v);
  fmt::print("  file size       {:.1f} KiB -> {:.1f} KiB ({:.2f}x smaller)\n", in_bytes / 1024.0, out_bytes / 1024.0,
             double(in_bytes) / std::max<uintmax_t>(out_bytes, 1));
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
  cmd->add_option("--calib-samples", a->calib_samples, "Calibration samples to use (0 = all)")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Samples per calibration run")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  cmd->add_flag("--sensitivity", a->sensitivity, "Quantize one layer at a time and report what each loses");
  cmd->add_option("--max-accuracy-drop", a->max_drop,
                  "Keep the most sensitive layers in FP32 until INT8 loses at most this many accuracy points "
                  "(or top-1 agreement points without labels)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-data", a->eval_data, "Data to measure sensitivity on (default: the calibration data)");
  cmd->add_option("--weights", a->weights,
                  "Weight-only quantization of MatMul/Gemm weights, activations stay float (the quantize-weights pass)")
      ->check(CLI::IsMember({"int8", "int4"}));
  cmd->add_option("--group-size", a->group_size, "With --weights: input rows per scale, e.g. 32, 64, 128 (0 = per output channel)");
  cmd->add_option("--method", a->method, "With --weights: rtn (round to nearest) or gptq (error-compensating, needs --data)")
      ->check(CLI::IsMember({"rtn", "gptq"}));
  cmd->add_option("--format", a->format, "With --weights: qdq (DequantizeLinear) or matmulnbits (onnxruntime com.microsoft, int4)")
      ->check(CLI::IsMember({"qdq", "matmulnbits"}));
  cmd->add_flag("--asymmetric", a->asymmetric, "With --weights: an integer zero point per group");
  cmd->add_option("--damp", a->damp, "With --method gptq: dampening, fraction of the Hessian's mean diagonal [default: 0.01]");
  cmd->add_flag("--stream", a->stream,
                "With --weights (ONNX, round to nearest): the same output, made one weight at a time, mapped in and written to "
                "external data, so peak memory follows the largest layer");
  add_pass_options(cmd, "quantize", a->options);
  cmd->footer("Examples: edgepack quantize teacher.onnx -o teacher.int8.onnx --data train.npz --calib entropy\n"
              "          edgepack quantize lm.onnx -o lm.int4.onnx --weights int4 --group-size 128 --method gptq --data calib.npz");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return quantize_model(*a, globals); }; });
}

}  // namespace edgepack::cli
