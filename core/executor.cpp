#include "core/executor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <dlfcn.h>

#include <set>
#include <thread>

#include "core/error.h"
#include "core/tensor_proto.h"

namespace edgepack {

void set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  // LibTorch's intra-op pool already splits the work; OpenBLAS threads inside each of those
  // threads oversubscribe the cores (measured: squeezenet 3x slower). Looked up at run time
  // because the BLAS behind libblas.so.3 is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set_blas(1);
}

// What the constructor works out for one graph, so that a run does no look-ups it can avoid.
struct Executor::GraphPlan {
  std::vector<const Kernel*> kernels;               // per node; nullptr: control flow, run here
  std::vector<std::vector<std::string>> release;    // per node: values no later node reads
};

// The values of one running graph. `outer` is the scope of the node running it (nullptr: the
// model's graph), so a subgraph reads enclosing values by name without copying them.
struct Executor::Scope {
  const Graph& graph;
  const GraphPlan& plan;
  std::map<std::string, at::Tensor>& values;
  const Scope* outer;
};

Executor::Executor(const Model& model) : model_(model) { main_plan_ = &plan(model.graph, {}); }

Executor::~Executor() = default;

const Executor::GraphPlan& Executor::plan(const Graph& g, const std::set<std::string>& outer) {
  auto plan = std::make_unique<GraphPlan>();
  std::set<std::string> available = outer;
  for (const auto& v : g.inputs) available.insert(v.name);
  for (const auto& [name, _] : g.initializers) available.insert(name);
  // value -> index of the last node that reads it (node count: a graph output, alive to the end).
  std::map<std::string, size_t> last_consumer;
  const auto& table = kernels();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!is_supported_op(n)) {
      std::string domain = n.domain.empty() ? "" : n.domain + "::";
      throw InputError(fmt::format("unsupported op {}{} (node '{}')", domain, n.op_type,
                                   n.name.empty() ? (n.outputs.empty() ? "" : n.outputs[0]) : n.name));
    }
    const bool control_flow = is_control_flow_op(n);
    plan->kernels.push_back(control_flow ? nullptr : &table.at(n.op_type));
    for (const std::string& in : n.inputs) {
      if (in.empty()) continue;
      // Also rejects cycles: a value used before (or without) being produced.
      if (!available.count(in))
        throw InputError(fmt::format("{}: input '{}' is not produced by any earlier node, initializer or graph input",
                                     n.label(), in));
      last_consumer[in] = i;
    }
    if (control_flow) {
      check_control_flow(n);
      for (const auto& [attr, a] : n.attrs) {
        if (a.kind != Attribute::Kind::Graph || !a.g) continue;
        try {
          this->plan(*a.g, available);   // checks every read of the subgraph against `available`
        } catch (const InputError& e) {
          throw InputError(fmt::format("{}, subgraph '{}': {}", n.label(), attr, e.what()));
        }
      }
      // What the subgraphs read from here must stay alive until this node has run.
      for (const std::string& v : outer_reads(n)) last_consumer[v] = i;
    }
    for (const std::string& out : n.outputs) available.insert(out);
  }
  for (const auto& out : g.outputs) {
    if (!available.count(out.name))
      throw InputError(fmt::format("graph output '{}' is not produced by any node", out.name));
    last_consumer[out.name] = g.nodes.size();
  }
  plan->release.resize(g.nodes.size());
  for (const auto& [name, i] : last_consumer)
    if (i < g.nodes.size() && !g.is_initializer(name)) plan->release[i].push_back(name);
  // Outputs nobody reads are dropped at once.
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const std::string& out : g.nodes[i].outputs)
      if (!out.empty() && !last_consumer.count(out)) plan->release[i].push_back(out);
  const GraphPlan& stored = *plan;
  plans_[&g] = std::move(plan);
  return stored;
}

void Executor::set_training(std::map<std::string, at::Tensor> parameters) {
  for (const auto& [name, t] : parameters) {
    auto it = model_.graph.initializers.find(name);
    if (it == model_.graph.initializers.end())
      throw InputError(fmt::format("parameter '{}' is not an initializer of the model", name));
    if (!t.defined() || t.sizes() != it->second.sizes())
      throw InputError(fmt::format("parameter '{}' has shape [{}] but the initializer has [{}]", name,
                                   t.defined() ? fmt::format("{}", fmt::join(t.sizes(), ",")) : "undefined",
                                   fmt::join(it->second.sizes(), ",")));
  }
  parameters_ = std::move(parameters);
  training_ = true;
}

void Executor::set_inference() {
  parameters_.clear();
  training_ = false;
}

const at::Tensor& Executor::initializer(const std::string& name) const {
  if (training_) {
    auto it = parameters_.find(name);
    if (it != parameters_.end()) return it->second;
  }
  return model_.graph.initializers.at(name);
}

std::map<std::string, at::Tensor> Executor::run(const std::map<std::string, at::Tensor>& feeds) {
  const Graph& g = model_.graph;
  // Inference records no autograd graph (and keeps the speed it always had).
  at::AutoGradMode grad_mode(training_);
  values_.clear();
  for (const ValueInfo* in : g.runtime_inputs()) {
    auto it = feeds.find(in->name);
    if (it == feeds.end()) throw InputError(fmt::format("graph input '{}' was not given", in->name));
    const at::Tensor& t = it->second;
    if (in->elem_type != 0 && !holds_onnx_type(t.scalar_type(), in->elem_type))
      throw InputError(fmt::format("input '{}' has type {} but the model expects {}", in->name,
                                   onnx_type_name(onnx_from_scalar_type(t.scalar_type())),
                                   onnx_type_name(in->elem_type)));
    if (in->shape) {
      const auto& dims = *in->shape;
      bool ok = static_cast<int64_t>(dims.size()) == t.dim();
      for (size_t d = 0; ok && d < dims.size(); ++d) ok = !dims[d].known() || dims[d].value == t.size(d);
      if (!ok) {
        std::vector<std::string> want;
        for (const Dim& d : dims) want.push_back(d.known() ? std::to_string(d.value) : (d.param.empty() ? "?" : d.param));
        throw InputError(fmt::format("input '{}' has shape [{}] but the model expects [{}]", in->name,
                                     fmt::join(t.sizes(), ","), fmt::join(want, ",")));
      }
    }
    values_[in->name] = t;
    if (observer_) observer_(in->name, t);
  }
  for (const auto& [name, _] : feeds)
    if (!values_.count(name) && !g.is_initializer(name))
      throw InputError(fmt::format("'{}' is not an input of the model", name));

  Scope scope{g, *main_plan_, values_, nullptr};
  run_nodes(scope);
  std::map<std::string, at::Tensor> result;
  for (const auto& out : g.outputs) {
    auto it = values_.find(out.name);
    result[out.name] = it != values_.end() ? it->second : initializer(out.name);
  }
  if (!keep_all_) values_.clear();
  return result;
}

const at::Tensor& Executor::lookup(const Scope& scope, const std::string& name) const {
  for (const Scope* s = &scope; s; s = s->outer) {
    auto it = s->values.find(name);
    if (it != s->values.end()) return it->second;
    if (s->graph.is_initializer(name)) return s->outer ? s->graph.initializers.at(name) : initializer(name);
  }
  // The constructor checked every read, so this is a bug here, not in the model.
  throw Error(fmt::format("value '{}' is not visible where it is read", name));
}

namespace {

// LibTorch's CPU kernels lack FLOAT16/BFLOAT16 for most ops (convolution, matmul). A node with
// such inputs is computed in float and its float outputs are rounded back to the narrow type:
// each value is what FP32 arithmetic rounded once to FP16 gives, as a runtime that accumulates
// in FP32 stores it (widening is exact). Cast and CastLike see their inputs as they are: their
// output type is declared, not inherited.
std::vector<at::Tensor> run_kernel_widening(const Kernel& kernel, const Node& n, const std::vector<at::Tensor>& inputs,
                                            int64_t opset) {
  at::ScalarType narrow = at::kFloat;
  for (const at::Tensor& t : inputs)
    if (t.defined() && (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16)) narrow = t.scalar_type();
  if (narrow == at::kFloat || n.op_type == "Cast" || n.op_type == "CastLike") return kernel(KernelContext{n, inputs, opset});
  std::vector<at::Tensor> wide = inputs;
  for (at::Tensor& t : wide)
    if (t.defined() && t.scalar_type() == narrow) t = t.to(at::kFloat);
  std::vector<at::Tensor> outputs = kernel(KernelContext{n, wide, opset});
  for (at::Tensor& t : outputs)
    if (t.defined() && t.scalar_type() == at::kFloat) t = t.to(narrow);
  return outputs;
}

}  // namespace

void Executor::run_nodes(Scope& scope) {
  const Graph& g = scope.graph;
  const bool top = scope.outer == nullptr;   // observer and override see the model's graph only
  const int64_t opset = model_.opset();
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    inputs.clear();
    for (const std::string& name : n.inputs) {
      if (name.empty()) { inputs.emplace_back(); continue; }
      auto it = scope.values.find(name);
      if (it != scope.values.end()) { inputs.push_back(it->second); continue; }
      if (top) {
        const at::Tensor& init = initializer(name);
        if (observer_) observer_(name, init);
        inputs.push_back(init);
      } else {
        inputs.push_back(lookup(scope, name));
      }
    }
    std::vector<at::Tensor> outputs;
    std::optional<std::vector<at::Tensor>> replaced;
    if (top && override_) replaced = override_(n, inputs);
    if (replaced) {
      outputs = std::move(*replaced);
    } else if (const Kernel* kernel = scope.plan.kernels[i]) {
      try {
        outputs = run_kernel_widening(*kernel, n, inputs, opset);
      } catch (const InputError& e) {
        throw;
      } catch (const c10::Error& e) {
        std::string msg = e.what_without_backtrace();
        throw InputError(fmt::format("{} failed: {}", n.label(), msg.substr(0, msg.find('\n'))));
      } catch (const std::exception& e) {
        throw Error(fmt::format("{} failed: {}", n.label(), e.what()));
      }
    } else {
      outputs = run_control_flow(n, inputs, scope);
    }
    if (outputs.size() < n.outputs.size())
      throw Error(fmt::format("{} produced {} outputs, expected {}", n.label(), outputs.size(), n.outputs.size()));
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      if (top && observer_) observer_(n.outputs[o], outputs[o]);
      scope.values[n.outputs[o]] = std::move(outputs[o]);
    }
    if (!keep_all_ || !top)
      for (const std::string& name : scope.plan.release[i]) scope.values.erase(name);
  }
}

std::vector<at::Tensor> Executor::run_subgraph(const Graph& g, const Scope& outer, const std::vector<at::Tensor>& inputs) {
  std::map<std::string, at::Tensor> values;
  for (size_t k = 0; k < g.inputs.size() && k < inputs.size(); ++k) values[g.inputs[k].name] = inputs[k];
  Scope scope{g, *plans_.at(&g), values, &outer};
  run_nodes(scope);
  std::vector<at::Tensor> outputs;
  outputs.reserve(g.outputs.size());
  for (const ValueInfo& out : g.outputs) outputs.push_back(lookup(scope, out.name));
  return outputs;
}

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& feeds) {
  auto runtime = model_.graph.runtime_inputs();
  if (feeds.size() != runtime.size())
    throw InputError(fmt::format("the model has {} inputs but {} were given", runtime.size(), feeds.size()));
  std::map<std::string, at::Tensor> named;
  for (size_t i = 0; i < feeds.size(); ++i) named[runtime[i]->name] = feeds[i];
  auto outputs = run(named);
  std::vector<at::Tensor> ordered;
  for (const auto& out : model_.graph.outputs) ordered.push_back(outputs.at(out.name));
  return ordered;
}

}  // namespace edgepack
