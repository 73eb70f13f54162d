#include "quantize/stream_quantize.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <malloc.h>

#include <set>
#include <vector>

#include "core/error.h"
#include "core/human_format.h"
#include "core/mapped_file.h"
#include "core/onnx_import.h"
#include "core/tensor_proto.h"
#include "core/onnx_export.h"
#include "passes/fold_constants.h"

namespace edgepack {

StreamQuantizeResult stream_quantize_weights(const std::string& input, const std::string& output,
                                             const StreamQuantizeOptions& options) {
  const WeightOnlySettings& settings = options.settings;
  if (settings.gptq)
    throw InputError("streaming quantization rounds to nearest only: GPTQ needs the whole model's activations");
  // Mapped, not read: only the weight being quantized is resident.
  Model model = import_onnx(input);
  check_exclude(model, std::vector<std::string>(settings.exclude.begin(), settings.exclude.end()));
  // As the pass does; folding reads only the constants it folds, not the mapped weights.
  fold_constants(model);
  Graph& g = model.graph;
  const std::vector<WeightTarget> targets = weight_targets(g, settings);
  if (!targets.empty()) raise_opsets_for(model, settings);
  ExternalDataWriter data(output);
  StreamQuantizeResult result;
  std::set<std::string> written;
  for (const WeightTarget& t : targets) {
    const int64_t in_bytes = g.initializers.at(t.weight).numel() * 4;
    QuantizedWeight q = quantize_rtn(weight_in_by_out(g, t), settings.spec);
    const int64_t out_bytes = quantized_bytes(q, settings.spec);
    // The rewrite drops the FP32 initializer: its mapping, and the pages it brought in, go.
    const std::vector<std::string> added = rewrite_quantized_weight(g, t, q, settings);
    q = {};
    // The new tensors move to the output's data file; the model keeps a mapping of them, untouched.
    // 4-bit values cannot: the exporter writes them packed, inside the model file.
    for (const std::string& name : added) {
      const ValueInfo* type = g.find_value(name);
      if (type && is_onnx_4bit(type->elem_type)) continue;
      at::Tensor& tensor = g.initializers.at(name);
      tensor = data.append(name, tensor);
      written.insert(name);
    }
    // glibc serves buffers under 32 MiB from its heap once a buffer that size was freed, and
    // keeps the freed pages: hand them back, or layer after layer of temporaries accumulate.
    ::malloc_trim(0);
    result.weight_bytes_in += in_bytes;
    result.weight_bytes_out += out_bytes;
    result.largest_weight_bytes = std::max(result.largest_weight_bytes, in_bytes);
    result.layers += static_cast<int64_t>(t.inputs.size());
    ++result.weights;
    if (options.progress)
      options.progress("weights", result.weights, static_cast<int64_t>(targets.size()), t.weight);
    else if (options.log)
      options.log(fmt::format("{} of {}: {} ({}) -> int{}, {}", result.weights, targets.size(), t.weight, t.reader,
                              settings.spec.bits, human_bytes(static_cast<double>(out_bytes))));
  }
  remove_unused_initializers(g);
  // Large weights that stay FP32 (not MatMul/Gemm weights) move over one at a time as well, so
  // that their input mappings are released as they are copied.
  for (auto& [name, t] : g.initializers)
    if (is_mapped(t) && !written.count(name)) t = data.append(name, t);
  save_onnx(model, output, SaveOptions{1024, &data});
  return result;
}

}  // namespace edgepack
