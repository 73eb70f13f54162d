// Small NCHW test graphs built in code (8x8 spatial, 3x3 convs with padding 1, seeded
// weights), for pass tests that need residual, concat or grouped structure.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack::test {

// Builds small NCHW graphs (8x8 spatial, 3x3 convs with padding 1) with seeded weights.
class Net {
 public:
  explicit Net(int64_t cin, uint64_t seed = 1) {
    at::manual_seed(seed);
    m.opsets[""] = 13;
    m.graph.inputs.push_back(info("X", {1, cin, 8, 8}));
    m.graph.inputs[0].shape->at(0) = Dim{-1, "N"};
    channels_["X"] = cin;
  }
  std::string conv(const std::string& x, int64_t cout, const std::string& name, int64_t group = 1) {
    return conv_like("Conv", x, {cout, channels_.at(x) / group, 3, 3}, cout, name, group);
  }
  // ConvTranspose (kernel 3, stride 1, pads 1: 8x8 stays 8x8); weight [C_in, C_out/group, 3, 3].
  std::string conv_transpose(const std::string& x, int64_t cout, const std::string& name, int64_t group = 1) {
    return conv_like("ConvTranspose", x, {channels_.at(x), cout / group, 3, 3}, cout, name, group);
  }
  std::string bn(const std::string& x, const std::string& name) {
    const int64_t c = channels_.at(x);
    for (const char* p : {".s", ".b", ".m", ".v"}) m.graph.initializers[name + p] = at::rand({c}) + 0.5;
    return add_node(node("BatchNormalization", name, {x, name + ".s", name + ".b", name + ".m", name + ".v"}), c);
  }
  std::string op(const std::string& type, const std::vector<std::string>& in, const std::string& name) {
    int64_t c = channels_.at(in[0]);
    if (type == "Concat") {
      c = 0;
      for (const auto& v : in) c += channels_.at(v);
    }
    Node n = node(type, name, in);
    if (type == "Concat") n.attrs["axis"] = Attribute::of_int(1);
    return add_node(std::move(n), c);
  }
  std::string flatten_gemm(const std::string& x, int64_t out, const std::string& name) {
    const std::string f = add_node(node("Flatten", name + ".flat", {x}), channels_.at(x) * 64);
    m.graph.initializers[name + ".w"] = at::randn({out, channels_.at(f)}) * 0.05;
    m.graph.initializers[name + ".b"] = at::randn({out}) * 0.1;
    Node n = node("Gemm", name, {f, name + ".w", name + ".b"});
    n.attrs["transB"] = Attribute::of_int(1);
    flat_.insert(name + ".out");
    return add_node(std::move(n), out);
  }
  Model output(const std::string& y) {
    Model out = m;
    const int64_t c = channels_.at(y);
    out.graph.outputs.push_back(info(y, flat_.count(y) ? std::vector<int64_t>{1, c} : std::vector<int64_t>{1, c, 8, 8}));
    out.graph.outputs.back().shape->at(0) = Dim{-1, "N"};
    return out;
  }
  Model m;

 private:
  std::string conv_like(const std::string& op, const std::string& x, std::vector<int64_t> weight_shape, int64_t cout,
                        const std::string& name, int64_t group) {
    m.graph.initializers[name + ".w"] = at::randn(weight_shape) * 0.3;
    m.graph.initializers[name + ".b"] = at::randn({cout}) * 0.1;
    Node n = node(op, name, {x, name + ".w", name + ".b"});
    n.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
    n.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
    if (group > 1) n.attrs["group"] = Attribute::of_int(group);
    return add_node(std::move(n), cout);
  }
  static ValueInfo info(const std::string& name, const std::vector<int64_t>& dims) {
    ValueInfo v;
    v.name = name;
    v.elem_type = 1;
    std::vector<Dim> shape;
    for (int64_t d : dims) shape.push_back(Dim{d, ""});
    v.shape = shape;
    return v;
  }
  static Node node(const std::string& type, const std::string& name, std::vector<std::string> in) {
    Node n;
    n.op_type = type;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = {name + ".out"};
    return n;
  }
  std::string add_node(Node n, int64_t channels) {
    channels_[n.outputs[0]] = channels;
    m.graph.nodes.push_back(std::move(n));
    return m.graph.nodes.back().outputs[0];
  }
  std::map<std::string, int64_t> channels_;
  std::set<std::string> flat_;   // 2-D values ([N, C])
};

// conv1 -> bn -> relu -> conv2 -> relu -> (+ conv1's relu: residual) -> conv3 -> flatten -> gemm
inline Model residual_net() {
  Net n(3);
  auto a = n.op("Relu", {n.bn(n.conv("X", 8, "conv1"), "bn1")}, "relu1");
  auto b = n.op("Relu", {n.conv(a, 8, "conv2")}, "relu2");
  auto s = n.op("Add", {a, b}, "add");
  auto c = n.op("Relu", {n.conv(s, 6, "conv3")}, "relu3");
  return n.output(n.flatten_gemm(c, 5, "fc"));
}

}  // namespace edgepack::test
