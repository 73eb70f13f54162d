// edgepack quantize MODEL -o OUT.onnx --data DATA [--calib ...] [...]: calibrated FP32 -> INT8
// post-training quantization to QDQ ONNX. The pass options come from the quantize pass's own
// declaration (see `edgepack passes`).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/onnx_import.h"
#include "export/onnx_export.h"
#include "passes/pipeline.h"

namespace edgepack::cli {
namespace fs = std::filesystem;

namespace {

struct QuantizeArgs {
  std::string model, output, data;
  int64_t calib_samples = 256;
  int64_t batch_size = 32;
  bool json = false;
  std::map<std::string, std::string> options;
};

int quantize_model(const QuantizeArgs& a, const Globals& globals) {
  if (fs::exists(a.output) && same_file(a.model, a.output))
    throw InputError(fmt::format("refusing to write over the input model '{}'", a.model));
  Model model = import_onnx(a.model);
  Dataset data = load_dataset(a.data, model, DatasetOptions{a.calib_samples});
  PassContext ctx;
  int64_t step = max_batch(model) > 0 ? max_batch(model) : std::max<int64_t>(1, a.batch_size);
  for (int64_t start = 0; start < data.samples; start += step) ctx.calibration.push_back(data.batch(start, step).feeds);
  if (!globals.quiet) ctx.log = [](const std::string& line) { fmt::print(stderr, "edgepack: {}\n", line); };

  Pipeline pipeline = {PipelineStep{"quantize", a.options}};
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
  cmd->add_option("model", a->model, "ONNX model (FP32)")->required();
  cmd->add_option("-o,--output", a->output, "Quantized ONNX model to write")->required();
  cmd->add_option("--data", a->data, "Calibration data: .npz (arrays by input name), .npy, or a folder of .pb tensors")->required();
  cmd->add_option("--calib-samples", a->calib_samples, "Calibration samples to use (0 = all)")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Samples per calibration run")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  add_pass_options(cmd, "quantize", a->options);
  cmd->footer("Example: edgepack quantize teacher.onnx -o teacher.int8.onnx --data train.npz --calib entropy");
  cmd->callback([&action, &globals, a] { action = [a, &globals] { return quantize_model(*a, globals); }; });
}

}  // namespace edgepack::cli
