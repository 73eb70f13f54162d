// Streaming weight-only quantization, for models larger than RAM: the input's external data is
// mapped, and one weight at a time is quantized (round to nearest), appended to the output's
// external data file and dropped, so peak memory follows the largest layer, not the model. The
// graph it writes is the quantize-weights pass's (quantize/quantize_weights.h, same settings, same
// per-weight rewrite, bitwise the same tensors); only the order of work and the files differ.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "quantize/quantize_weights.h"

namespace edgepack {

struct StreamQuantizeOptions {
  WeightOnlySettings settings;                   // method gptq is refused: it needs the whole model's activations
  std::function<void(const std::string&)> log;   // one line per weight, when there is no progress; may be empty
  // "weights": weights done of all, the last one's name (PassContext::progress); may be empty.
  std::function<void(const std::string&, int64_t, int64_t, const std::string&)> progress;
};

struct StreamQuantizeResult {
  int64_t weights = 0;             // weights quantized
  int64_t layers = 0;              // MatMul/Gemm nodes reading them
  int64_t weight_bytes_in = 0;     // their FP32 bytes
  int64_t weight_bytes_out = 0;    // their quantized bytes (values, scales, zero points)
  int64_t largest_weight_bytes = 0;
};

// Reads `input` (ONNX, external data mapped), writes `output` and `output`.data. InputError for
// a model that cannot be read or quantized with these settings; Error (exit 1) when the output
// cannot be written, which leaves neither output file. INT4 QDQ values are the exception to
// "one weight at a time": ONNX 4-bit tensors are written packed inside the model file, so they
// stay in memory (1 byte per parameter) until it is saved.
StreamQuantizeResult stream_quantize_weights(const std::string& input, const std::string& output,
                                             const StreamQuantizeOptions& options);

}  // namespace edgepack
