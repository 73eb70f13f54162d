// Writes the bundled sample: a small CNN classifier (28x28 grey input, 10 classes) with seeded
// weights, plus one input tensor, so the quick start has a model without any download.
// usage: make_tiny_cnn OUT_DIR   -> OUT_DIR/tiny_cnn.onnx, OUT_DIR/input_0.pb
// (The MNIST teacher trained with LibTorch replaces it as the main sample.)
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"
#include "core/tensor_proto.h"
#include "export/onnx_export.h"

using namespace edgepack;

namespace {

ValueInfo float_value(const std::string& name, std::vector<int64_t> dims) {
  ValueInfo v;
  v.name = name;
  v.elem_type = 1;
  std::vector<Dim> shape;
  for (int64_t d : dims) shape.push_back(Dim{d, ""});
  v.shape = shape;
  return v;
}

Node node(const std::string& name, const std::string& op, std::vector<std::string> in, std::string out) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = {std::move(out)};
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: make_tiny_cnn OUT_DIR\n");
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  at::manual_seed(2026);
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.name = "tiny_cnn";
  g.inputs.push_back(float_value("image", {1, 1, 28, 28}));
  g.outputs.push_back(float_value("logits", {1, 10}));
  auto he = [](std::vector<int64_t> shape, int64_t fan_in) { return at::randn(shape) * std::sqrt(2.0 / fan_in); };
  g.initializers["conv1.w"] = he({16, 1, 3, 3}, 9);
  g.initializers["conv1.b"] = at::zeros({16});
  g.initializers["conv2.w"] = he({32, 16, 3, 3}, 144);
  g.initializers["conv2.b"] = at::zeros({32});
  g.initializers["fc.w"] = he({10, 32 * 7 * 7}, 32 * 7 * 7);
  g.initializers["fc.b"] = at::zeros({10});
  Node conv1 = node("conv1", "Conv", {"image", "conv1.w", "conv1.b"}, "c1");
  conv1.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  Node pool1 = node("pool1", "MaxPool", {"r1"}, "p1");
  pool1.attrs["kernel_shape"] = Attribute::of_ints({2, 2});
  pool1.attrs["strides"] = Attribute::of_ints({2, 2});
  Node conv2 = node("conv2", "Conv", {"p1", "conv2.w", "conv2.b"}, "c2");
  conv2.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  Node pool2 = pool1;
  pool2.name = "pool2";
  pool2.inputs = {"r2"};
  pool2.outputs = {"p2"};
  Node flat = node("flatten", "Flatten", {"p2"}, "f");
  Node fc = node("fc", "Gemm", {"f", "fc.w", "fc.b"}, "logits");
  fc.attrs["transB"] = Attribute::of_int(1);
  g.nodes = {conv1, node("relu1", "Relu", {"c1"}, "r1"), pool1, conv2, node("relu2", "Relu", {"c2"}, "r2"),
             pool2, flat, fc};
  try {
    save_onnx(m, fmt::format("{}/tiny_cnn.onnx", argv[1]));
    write_tensor_file(fmt::format("{}/input_0.pb", argv[1]), at::rand({1, 1, 28, 28}), "image");
  } catch (const Error& e) {
    fmt::print(stderr, "make_tiny_cnn: {}\n", e.what());
    return 1;
  }
  return 0;
}
