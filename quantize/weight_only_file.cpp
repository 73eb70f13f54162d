#include "quantize/weight_only_file.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "core/dataset.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/human_format.h"
#include "core/input_shapes.h"
#include "core/onnx_export.h"
#include "core/onnx_import.h"
#include "core/output_lock.h"

namespace edgepack {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kProcessBytes = int64_t{300} << 20;   // LibTorch + ONNX + the executable, measured ~0.2-0.3 GB

// Why these settings cannot stream ("" when they can).
std::string why_not_streamable(const WeightOnlyFileRequest& r, const WeightOnlySettings& settings) {
  if (settings.gptq) return "--method gptq needs the whole model's activations";
  if (!r.data.empty()) return "round to nearest takes no --data";
  if (!r.load.input_shapes.empty() || is_torchscript_file(r.input)) return "streaming reads ONNX models only (their external data is mapped)";
  return "";
}

int64_t files_bytes(const std::string& model) {
  std::error_code ec;
  int64_t total = static_cast<int64_t>(fs::file_size(model, ec));
  const auto data = fs::file_size(model + ".data", ec);
  if (!ec) total += static_cast<int64_t>(data);
  return total;
}

}  // namespace

int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

ExecutionChoice choose_execution(const WeightOnlyFileRequest& r) {
  if (r.step.pass != "quantize-weights") throw InputError(fmt::format("weight-only quantization runs quantize-weights, not '{}'", r.step.pass));
  const WeightOnlySettings settings = weight_only_settings(quantize_weights_options().parse(r.step.options));
  const std::string blocker = why_not_streamable(r, settings);
  ExecutionChoice c;
  c.model_bytes = is_torchscript_file(r.input) ? files_bytes(r.input) : onnx_model_bytes(r.input);
  c.estimated_peak_bytes = c.model_bytes + kProcessBytes;
  c.budget_bytes = r.memory_budget_bytes > 0 ? r.memory_budget_bytes : available_memory_bytes() / 10 * 8;
  switch (r.execution) {
    case Execution::Stream:
      if (!blocker.empty()) throw InputError(fmt::format("--stream rounds to nearest, without data, on ONNX: {} (drop --stream)", blocker));
      c.stream = true;
      c.reason = "streamed: asked for (--stream)";
      return c;
    case Execution::InMemory:
      c.reason = "in memory: asked for (--no-stream)";
      return c;
    case Execution::Auto:
      break;
  }
  const std::string sizes = fmt::format("~{} needed in memory, budget {}", human_bytes(double(c.estimated_peak_bytes)),
                                        c.budget_bytes > 0 ? human_bytes(double(c.budget_bytes)) : std::string("unknown"));
  if (c.budget_bytes <= 0 || c.estimated_peak_bytes <= c.budget_bytes) {
    c.reason = fmt::format("in memory: {}", sizes);
  } else if (blocker.empty()) {
    c.stream = true;
    c.reason = fmt::format("streamed: {} (peak memory follows the largest layer instead)", sizes);
  } else {
    c.reason = fmt::format("in memory although {}: cannot stream ({})", sizes, blocker);
  }
  return c;
}

WeightOnlyFileResult quantize_weights_file(const WeightOnlyFileRequest& r, const std::function<void(const std::string&)>& log) {
  resolve_output_path(r.output);   // a FIFO, device or folder is refused before any work
  refuse_overwriting_input(r.output, r.input, "model");
  refuse_overwriting_input(r.output, r.data, "data");
  WeightOnlyFileResult result;
  result.pipeline = canonicalize({r.step});
  result.execution = choose_execution(r);
  if (log) log(result.execution.reason);
  // Held until the model is written: a second run into the same folder waits (or gives up).
  OutputLock lock(output_folder(r.output), lock_wait_seconds(), log);
  if (result.execution.stream) {
    StreamQuantizeOptions options;
    options.settings = weight_only_settings(quantize_weights_options().parse(r.step.options));
    options.log = log;
    options.progress = r.progress;
    result.streamed = stream_quantize_weights(r.input, r.output, options);
  } else {
    Model model = load_model(r.input, r.load);
    PassContext ctx;
    ctx.log = log;
    ctx.quiet = !log;
    ctx.progress = r.progress;
    Dataset data;
    if (!r.data.empty()) {
      data = load_dataset(r.data, model, DatasetOptions{r.calib_samples});
      for (const std::string& line : bind_input_shapes(model, data))
        if (log) log("input shape " + line);
      ctx.calibration = feed_batches(data, model, r.batch_size);
      result.calibration_samples = data.samples;
      result.calibration_digest = data.digest();
    }
    result.steps = run_pipeline(model, result.pipeline, ctx);
    save_onnx(model, r.output);   // a model past protobuf's limit is saved with external data
  }
  result.input_bytes = result.execution.model_bytes;
  result.external_data = fs::exists(r.output + ".data");
  result.output_bytes = files_bytes(r.output);
  return result;
}

}  // namespace edgepack
