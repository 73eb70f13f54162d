// Loads and prepares a TorchScript module's forward graph (see core/torchscript_load.h).
#include "core/torchscript_load.h"

#include <fmt/format.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/serialization/import.h>

#include "core/error.h"

namespace edgepack::torchscript {

namespace jit = torch::jit;

std::string first_line(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  return m.substr(0, m.find('\n'));
}

namespace {

// forward(src, mask=None, src_key_padding_mask=None): inputs whose default is None are left at
// it. Each becomes a None constant, so constant propagation folds `if mask is None:` and the
// branches that need the tensor disappear; the rest of the graph never sees them.
void specialize_none_defaults(jit::Graph& graph, const c10::FunctionSchema& schema, std::vector<std::string>& names) {
  const auto& args = schema.arguments();
  for (size_t i = std::min(graph.inputs().size(), args.size()); i-- > 1;) {   // 0 is self
    const auto& fallback = args[i].default_value();
    if (!fallback || !fallback->isNone()) continue;
    jit::Value* input = graph.inputs()[i];
    jit::Value* none = nullptr;
    {
      jit::WithInsertPoint at_start(graph.block()->nodes().front());
      none = graph.insertConstant(c10::IValue());
    }
    input->replaceAllUsesWith(none);
    graph.eraseInput(i);
    names.erase(names.begin() + static_cast<long>(i));
  }
}

}  // namespace

ForwardGraph load_forward_graph(const std::string& path) {
  jit::Module module;
  try {
    module = jit::load(path);
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("'{}': not a readable TorchScript archive: {}", path, first_line(e)));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw InputError(fmt::format("'{}': not a readable TorchScript archive: {}", path, what.substr(0, what.find('\n'))));
  }
  if (!module.find_method("forward")) throw InputError(fmt::format("'{}': the TorchScript module has no forward()", path));
  try {
    module.eval();
    // optimize_numerics=false keeps the graph as written (batch_norm stays batch_norm); our
    // passes do the folding, with their own tests and tolerances.
    jit::Module frozen = jit::freeze(module, c10::nullopt, /*optimize_numerics=*/false);
    jit::Method forward = frozen.get_method("forward");
    ForwardGraph result;
    for (const c10::Argument& a : forward.function().getSchema().arguments()) result.arg_names.push_back(a.name());
    result.graph = forward.graph()->copy();
    jit::Inline(*result.graph);
    specialize_none_defaults(*result.graph, forward.function().getSchema(), result.arg_names);
    jit::RemoveListMutation(result.graph);
    jit::RemoveTensorMutation(result.graph);
    jit::LowerSimpleTuples(result.graph);
    jit::ConstantPropagation(result.graph);
    jit::EliminateDeadCode(result.graph);
    return result;
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("'{}': cannot freeze the TorchScript module: {}", path, first_line(e)));
  }
}

}  // namespace edgepack::torchscript
