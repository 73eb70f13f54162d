// Weight-only quantization of a model file into a model file (`edgepack quantize --weights`):
// the quantize-weights pass run in memory, or the same rewrite streamed one weight at a time
// (quantize/stream_quantize.h: the same graph and tensors, peak memory one layer). Streaming is an
// execution mode, not another result, so it is chosen for the user: when the model would not fit
// the memory budget in memory, and the settings allow it (ONNX, round to nearest, no calibration).
//
// The in-memory peak is estimated as the model's FP32 bytes (file + external data) plus the
// process's own ~0.3 GB: docs/large_models.md measured 3.40 GB for a 4.29 GB model (the save
// holds the output as tensors, protobuf and bytes) and 0.91 GB streamed.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/model_loader.h"
#include "passes/pipeline.h"
#include "quantize/quantize_weights.h"
#include "quantize/stream_quantize.h"

namespace edgepack {

enum class Execution { Auto, InMemory, Stream };

struct ExecutionChoice {
  bool stream = false;
  std::string reason;              // one line: why this mode
  int64_t model_bytes = 0;         // the input's file + external data
  int64_t estimated_peak_bytes = 0;// in memory
  int64_t budget_bytes = 0;
};

struct WeightOnlyFileRequest {
  std::string input, output;
  LoadOptions load;                // TorchScript input shapes
  PipelineStep step;               // the quantize-weights step as given (its options are checked)
  std::string data;                // calibration for GPTQ; "" = none
  int64_t calib_samples = 256, batch_size = 32;
  Execution execution = Execution::Auto;
  int64_t memory_budget_bytes = 0; // Auto: 0 = 80% of the memory available now (/proc/meminfo)
  // Weights done of all (streamed), or the pass's own long steps (GPTQ); may be empty.
  std::function<void(const std::string&, int64_t, int64_t, const std::string&)> progress;
};

struct WeightOnlyFileResult {
  ExecutionChoice execution;
  Pipeline pipeline;               // canonicalize({step}), as run in memory
  std::vector<StepReport> steps;   // in memory
  std::optional<StreamQuantizeResult> streamed;
  int64_t calibration_samples = 0;
  std::string calibration_digest;
  int64_t input_bytes = 0, output_bytes = 0;   // files, external data included
  bool external_data = false;      // the output has OUTPUT.data
};

// MemAvailable of /proc/meminfo in bytes (0 when unknown).
int64_t available_memory_bytes();

// The mode for `request` (InputError when Stream is asked for settings that cannot stream).
ExecutionChoice choose_execution(const WeightOnlyFileRequest& request);

// Quantizes `request.input` into `request.output` (and OUTPUT.data when large or streamed), holding
// the output folder's lock. `log` receives progress lines (nullptr: none).
WeightOnlyFileResult quantize_weights_file(const WeightOnlyFileRequest& request,
                                           const std::function<void(const std::string&)>& log = nullptr);

}  // namespace edgepack
