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

Executor::Executor(const Model& model) : model_(model) {
  const Graph& g = model.graph;
  std::set<std::string> available;
  for (const auto& v : g.inputs) available.insert(v.name);
  for (const auto& [name, _] : g.initializers) available.insert(name);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!is_supported_op(n)) {
      std::string domain = n.domain.empty() ? "" : n.domain + "::";
      throw InputError(fmt::format("unsupported op {}{} (node '{}')", domain, n.op_type,
                                   n.name.empty() ? (n.outputs.empty() ? "" : n.outputs[0]) : n.name));
    }
    for (const std::string& in : n.inputs) {
      if (in.empty()) continue;
      // Also rejects cycles: a value used before (or without) being produced.
      if (!available.count(in))
        throw InputError(fmt::format("{}: input '{}' is not produced by any earlier node, initializer or graph input",
                                     n.label(), in));
      last_consumer_[in] = i;
    }
    for (const std::string& out : n.outputs) available.insert(out);
  }
  for (const auto& out : g.outputs) {
    if (!available.count(out.name))
      throw InputError(fmt::format("graph output '{}' is not produced by any node", out.name));
    last_consumer_[out.name] = g.nodes.size();  // outputs live to the end
  }
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
    if (in->elem_type != 0 && onnx_from_scalar_type(t.scalar_type()) != in->elem_type)
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

  const auto& table = kernels();
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    inputs.clear();
    for (const std::string& name : n.inputs) {
      if (name.empty()) { inputs.emplace_back(); continue; }
      auto it = values_.find(name);
      if (it != values_.end()) { inputs.push_back(it->second); continue; }
      const at::Tensor& init = initializer(name);
      if (observer_) observer_(name, init);
      inputs.push_back(init);
    }
    std::vector<at::Tensor> outputs;
    std::optional<std::vector<at::Tensor>> replaced;
    if (override_) replaced = override_(n, inputs);
    if (replaced) {
      outputs = std::move(*replaced);
    } else {
      try {
        outputs = table.at(n.op_type)(KernelContext{n, inputs, model_.opset()});
      } catch (const InputError& e) {
        throw;
      } catch (const c10::Error& e) {
        std::string msg = e.what_without_backtrace();
        throw InputError(fmt::format("{} failed: {}", n.label(), msg.substr(0, msg.find('\n'))));
      } catch (const std::exception& e) {
        throw Error(fmt::format("{} failed: {}", n.label(), e.what()));
      }
    }
    if (outputs.size() < n.outputs.size())
      throw Error(fmt::format("{} produced {} outputs, expected {}", n.label(), outputs.size(), n.outputs.size()));
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      if (observer_) observer_(n.outputs[o], outputs[o]);
      values_[n.outputs[o]] = std::move(outputs[o]);
    }
    if (!keep_all_) {
      for (const std::string& name : n.inputs) {
        auto lc = last_consumer_.find(name);
        if (lc != last_consumer_.end() && lc->second == i) values_.erase(name);
      }
      // Outputs nobody reads are dropped at once.
      for (const std::string& name : n.outputs)
        if (!name.empty() && !last_consumer_.count(name)) values_.erase(name);
    }
  }
  std::map<std::string, at::Tensor> result;
  for (const auto& out : g.outputs) {
    auto it = values_.find(out.name);
    result[out.name] = it != values_.end() ? it->second : initializer(out.name);
  }
  if (!keep_all_) values_.clear();
  return result;
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
