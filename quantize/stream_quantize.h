// Streaming weight-only quantization, for models larger than RAM: the input's external data is
// mapped, and one weight at a time is quantized (round to nearest), appended to the output's
// external data file and dropped, so peak memory follows the largest layer, not the model. The
// graph it writes is the one the quantize-weights pass writes; only the order of work differs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "quantize/weight_only.h"

namespace edgepack {

struct StreamQuantizeOptions {
  WeightQuantSpec spec;
  std::function<void(const std::string&)> log;   // one line per weight; may be empty
  // false: the same rewrite with every quantized weight held in memory and the model saved
  // whole (the in-memory path, for comparison and for models that fit).
  bool stream = true;
};

struct StreamQuantizeResult {
  int64_t weights = 0;             // weights quantized
  int64_t weight_bytes_in = 0;     // their FP32 bytes
  int64_t weight_bytes_out = 0;    // their quantized bytes (values, scales, zero points)
  int64_t largest_weight_bytes = 0;
};

// Reads `input` (ONNX, external data mapped), writes `output` and `output`.data. InputError for
// a model that cannot be read; Error (exit 1) when the output cannot be written, which leaves
// neither output file.
StreamQuantizeResult stream_quantize_weights(const std::string& input, const std::string& output,
                                             const StreamQuantizeOptions& options);

}  // namespace edgepack
