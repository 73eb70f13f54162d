// Loading a TorchScript archive for conversion: torch::jit::load, eval mode, freeze (parameters
// become constants, the graph stays as written), then LibTorch's passes that leave one flat,
// mutation-free forward graph. Apart from the converter because this is the only part that
// deals with LibTorch modules and archives; the converter sees a graph.
#pragma once
#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>
#include <vector>

namespace edgepack::torchscript {

// forward()'s graph, ready to convert, and the names of its arguments (`self` first).
struct ForwardGraph {
  std::shared_ptr<torch::jit::Graph> graph;
  std::vector<std::string> arg_names;
};

// InputError (one line) for a file that is not a readable TorchScript archive, a module without
// forward(), or one LibTorch cannot freeze.
ForwardGraph load_forward_graph(const std::string& path);

// The first line of a LibTorch message, without its C++ backtrace.
std::string first_line(const c10::Error& e);

}  // namespace edgepack::torchscript
