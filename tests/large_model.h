// A seeded MLP written with external data, one layer at a time, so that models larger than RAM
// can be generated (bench_stream) and small ones tested the same way (test_stream).
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/ir.h"
#include "core/onnx_export.h"

namespace edgepack::test {

// X[N, width] -> (MatMul W_i[width, width] -> Relu) x layers -> Y (no Relu after the last).
// He-scaled weights keep activations O(1) through the depth. Each weight is generated, appended
// to `<path>.data` and dropped before the next: peak memory is one layer. Weights of at least
// `external_threshold` bytes go to the data file (all of them by default).
inline void write_mlp_model(const std::string& path, int layers, int64_t width, uint64_t seed = 1,
                            int64_t external_threshold = 0) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(float_value("X", {Dim{-1, "N"}, Dim{width, ""}}));
  ExternalDataWriter data(path);
  std::string x = "X";
  for (int i = 0; i < layers; ++i) {
    const std::string w = "fc" + std::to_string(i) + ".weight";
    at::manual_seed(seed + static_cast<uint64_t>(i));
    at::Tensor weight = at::randn({width, width}) * std::sqrt(2.0 / static_cast<double>(width));
    const bool external = weight.numel() * 4 >= external_threshold;
    m.graph.initializers[w] = external ? data.append(w, weight) : weight;
    const std::string mm = "fc" + std::to_string(i);
    m.graph.nodes.push_back(make_node("MatMul", {x, w}, mm));
    x = mm;
    if (i + 1 < layers) {
      m.graph.nodes.push_back(make_node("Relu", {x}, mm + ".relu"));
      x = mm + ".relu";
    }
  }
  m.graph.outputs.push_back(float_value(x, {Dim{-1, "N"}, Dim{width, ""}}));
  save_onnx(m, path, SaveOptions{-1, &data});
}

}  // namespace edgepack::test
