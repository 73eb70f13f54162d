// Runs a Graph on LibTorch, node by node in topological order. Values are freed after their
// last use, so peak memory follows the live set, not the whole graph.
// Hooks: an observer sees every value as it is produced (calibration, statistics); an override
// may replace a node's computation (fake-quant, tracing).
// Control flow (If, Loop, Scan) runs its subgraphs here, with the values of every enclosing
// graph visible by name (ONNX lexical scoping); observer and override see the model's own graph
// only: a control-flow node is one node to them, its subgraphs' values stay inside.
// Training mode (set_training): autograd records the run and caller-owned parameter tensors
// stand in for initializers of the same names, so gradients reach them while the Model stays
// untouched until the caller writes trained values back (distill/trainer does).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/ir.h"

namespace edgepack {

// What a kernel sees: the node, its inputs (an undefined tensor for an omitted optional input)
// and the model's opset.
struct KernelContext {
  const Node& node;
  const std::vector<at::Tensor>& inputs;
  int64_t opset;

  size_t size() const { return inputs.size(); }
  bool has(size_t i) const { return i < inputs.size() && inputs[i].defined(); }
  // Input i; throws InputError naming the node when it is absent.
  const at::Tensor& in(size_t i) const;
  // A small integer tensor input (shape, axes, pads) as a vector.
  std::vector<int64_t> ints(size_t i) const;
};

using Kernel = std::function<std::vector<at::Tensor>(const KernelContext&)>;

// op_type -> kernel, for the ai.onnx domain. Filled once from the list in core/ops/registry.cpp.
const std::map<std::string, Kernel>& kernels();
// The ops the executor runs itself because they run subgraphs (If, Loop, Scan): not in kernels().
bool is_control_flow_op(const Node& node);
// A kernel op or a control-flow op.
bool is_supported_op(const Node& node);

class Executor {
 public:
  // Called for every graph input, initializer a node takes as input, and node output as it
  // becomes available: the model's graph only (not values inside If/Loop/Scan subgraphs).
  using Observer = std::function<void(const std::string& value, const at::Tensor& tensor)>;
  // Return outputs to replace the node's kernel, or nullopt to run it normally. Asked for the
  // nodes of the model's graph only (a control-flow node with its explicit inputs).
  using Override = std::function<std::optional<std::vector<at::Tensor>>(
      const Node& node, const std::vector<at::Tensor>& inputs)>;

  // Checks that every op is supported, every value read exists where it is read and every
  // subgraph has the form its node needs, in subgraphs too (InputError naming the node otherwise).
  explicit Executor(const Model& model);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  void set_override(Override override_fn) { override_ = std::move(override_fn); }
  // Keep every intermediate value alive (for inspection) instead of freeing after last use.
  void keep_all_values(bool keep) { keep_all_ = keep; }

  // Training mode: run() records autograd (no NoGradGuard) and each tensor of `parameters`
  // replaces the model's initializer of that name during the run (usually requires_grad leaves;
  // the caller keeps them alive and updates them in place). InputError when a name is not an
  // initializer or a shape differs. Kernels never write into their inputs, so parameters are
  // safe to share across runs.
  void set_training(std::map<std::string, at::Tensor> parameters);
  // Back to inference: no autograd, the model's own initializers (the default).
  void set_inference();
  bool training() const { return training_; }

  // Feeds bind by name; every runtime input must be fed. Returns the graph outputs by name.
  std::map<std::string, at::Tensor> run(const std::map<std::string, at::Tensor>& feeds);
  // Feeds bind to the runtime inputs in order; returns outputs in graph order.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& feeds);
  // After a run with keep_all_values(true): every value by name.
  const std::map<std::string, at::Tensor>& values() const { return values_; }

 private:
  struct GraphPlan;   // per graph, worked out once by the constructor (executor.cpp)
  struct Scope;       // the values of one running graph and its enclosing scope

  const Model& model_;
  // The model's graph and every subgraph in it, by address (the Model outlives the Executor).
  std::map<const Graph*, std::unique_ptr<GraphPlan>> plans_;
  const GraphPlan* main_plan_ = nullptr;
  Observer observer_;
  Override override_;
  bool keep_all_ = false;
  bool training_ = false;
  std::map<std::string, at::Tensor> parameters_;  // training mode only
  std::map<std::string, at::Tensor> values_;

  const at::Tensor& initializer(const std::string& name) const;
  // Checks `g` (whose nodes may also read `outer`, the names visible in enclosing scopes) and
  // its subgraphs, and stores their plans.
  const GraphPlan& plan(const Graph& g, const std::set<std::string>& outer);
  void check_control_flow(const Node& n) const;
  // A value visible from `scope`: its own values, its graph's initializers, then enclosing scopes.
  const at::Tensor& lookup(const Scope& scope, const std::string& name) const;
  // Runs the nodes of scope's graph; the observer and override apply when it is the model's.
  void run_nodes(Scope& scope);
  // Runs subgraph `g` inside `outer` with `inputs` bound to its inputs; returns its outputs.
  std::vector<at::Tensor> run_subgraph(const Graph& g, const Scope& outer, const std::vector<at::Tensor>& inputs);
  std::vector<at::Tensor> run_control_flow(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope);
  std::vector<at::Tensor> run_if(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope);
  std::vector<at::Tensor> run_loop(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope);
  std::vector<at::Tensor> run_scan(const Node& n, const std::vector<at::Tensor>& inputs, const Scope& scope);
};

// Sets LibTorch's intra-op thread count (0 = all cores).
void set_threads(int threads);

}  // namespace edgepack
