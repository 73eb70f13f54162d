#include "quantize/stream_quantize.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <malloc.h>

#include <memory>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/human_format.h"
#include "core/mapped_file.h"
#include "core/onnx_import.h"
#include "export/onnx_export.h"

namespace edgepack {

namespace {

int64_t tensor_bytes(const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; }

// TEMPORARY, until the quantize-weights pass (passes/quantize_weights.h) publishes its target
// finder and its per-weight rewrite: the streaming quantizer must write the graph that pass
// writes (same names: W_quantized, W_scale, W_dequantized, W_DequantizeLinear before the first
// reader), so these two are to be replaced by the pass's own, not grown. The pass as written
// quantizes every weight before rewriting and scans all weights for NaN up front, which would
// bring the whole model into memory. Per-channel symmetric INT8 of MatMul weights only.
struct WeightSite {
  std::string weight;   // a float [K, N] initializer read as MatMul's B
  std::string node;
  at::Tensor in_by_out(const at::Tensor& w) const { return w; }
};

std::vector<WeightSite> weight_sites(const Model& model) {
  std::vector<WeightSite> sites;
  std::set<std::string> seen;
  for (const Node& n : model.graph.nodes) {
    if (n.op_type != "MatMul" || !n.domain.empty() || n.inputs.size() != 2) continue;
    auto it = model.graph.initializers.find(n.inputs[1]);
    if (it == model.graph.initializers.end() || it->second.dim() != 2 || it->second.scalar_type() != at::kFloat) continue;
    if (seen.insert(n.inputs[1]).second) sites.push_back({n.inputs[1], n.label()});
  }
  return sites;
}

struct QuantizedNames {
  std::string values;
};

QuantizedNames rewrite_quantized_weight(Model& model, const WeightSite& site, const QuantizedWeight& q,
                                        const WeightQuantSpec& spec) {
  if (spec.bits != 8 || spec.group_size != 0 || !spec.symmetric)
    throw InputError("streaming quantization supports per-channel symmetric INT8 only");
  const std::string values = site.weight + "_quantized", scale = site.weight + "_scale",
                    dequantized = site.weight + "_dequantized";
  Graph& g = model.graph;
  g.initializers.erase(site.weight);
  g.initializers[values] = q.values;
  g.initializers[scale] = q.scales.reshape({-1});
  Node dq = make_node("DequantizeLinear", {values, scale}, dequantized);
  dq.name = site.weight + "_DequantizeLinear";
  dq.attrs["axis"] = Attribute::of_int(1);
  size_t first = g.nodes.size();
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& in : g.nodes[i].inputs)
      if (in == site.weight) {
        in = dequantized;
        first = std::min(first, i);
      }
  g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(first), std::move(dq));
  return {values};
}

}  // namespace

StreamQuantizeResult stream_quantize_weights(const std::string& input, const std::string& output,
                                             const StreamQuantizeOptions& options) {
  // Mapped, not read: only the weight being quantized is resident.
  Model model = import_onnx(input);
  std::unique_ptr<ExternalDataWriter> data;
  if (options.stream) data = std::make_unique<ExternalDataWriter>(output);
  StreamQuantizeResult result;
  std::set<std::string> written;
  const std::vector<WeightSite> sites = weight_sites(model);
  for (const WeightSite& site : sites) {
    const at::Tensor& w = model.graph.initializers.at(site.weight);
    const int64_t in_bytes = tensor_bytes(w);
    QuantizedWeight q = quantize_rtn(site.in_by_out(w), options.spec);
    result.weight_bytes_in += in_bytes;
    result.largest_weight_bytes = std::max(result.largest_weight_bytes, in_bytes);
    // The rewrite drops the FP32 initializer: its mapping, and the pages it brought in, go.
    QuantizedNames names = rewrite_quantized_weight(model, site, q, options.spec);
    const int64_t out_bytes = quantized_bytes(q, options.spec);
    result.weight_bytes_out += out_bytes;
    ++result.weights;
    if (data) {
      // The values move to the output's data file; the model keeps a mapping of them, untouched.
      q = {};
      at::Tensor& values = model.graph.initializers.at(names.values);
      values = data->append(names.values, values);
      written.insert(names.values);
      // glibc serves buffers under 32 MiB from its heap once a buffer that size was freed, and
      // keeps the freed pages: hand them back, or layer after layer of temporaries accumulate.
      ::malloc_trim(0);
    }
    if (options.log)
      options.log(fmt::format("{} of {}: {} ({}) -> int{}, {}", result.weights, sites.size(), site.weight, site.node,
                              options.spec.bits, human_bytes(static_cast<double>(out_bytes))));
  }
  if (!data) {
    save_onnx(model, output);
    return result;
  }
  // Large weights that stay FP32 (not MatMul/Gemm weights) move over one at a time as well, so
  // that their input mappings are released as they are copied.
  for (auto& [name, t] : model.graph.initializers)
    if (is_mapped(t) && !written.count(name)) t = data->append(name, t);
  save_onnx(model, output, SaveOptions{1024, data.get()});
  return result;
}

}  // namespace edgepack
