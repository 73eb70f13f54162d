// fold-constants: evaluates every node whose inputs are all constants (initializers, or
// outputs of nodes folded before it) and replaces it with initializers; then drops
// initializers nobody reads.
//   before: shape(init) -> ConstantOfShape -> W ; X, W -> Conv
//   after:  X, W(init) -> Conv
// Needed before any pass that reads weights: real exporters emit Constant/ConstantOfShape/
// Reshape chains for weights and shapes.
#pragma once
#include "passes/pass.h"

namespace edgepack {

struct FoldConstantsStats {
  int folded_nodes = 0;
  int removed_initializers = 0;
};

FoldConstantsStats fold_constants(Model& model);
// Drops initializers that no node, graph output or graph input refers to.
int remove_unused_initializers(Graph& graph);
// Drops nodes none of whose outputs is read (by a node, a subgraph or a graph output), until
// none is left, then the initializers they alone read. Returns the number of nodes dropped.
// ONNX inference ops have no side effects, so an unread node changes nothing.
int remove_dead_nodes(Graph& graph);

PassInfo fold_constants_info();

}  // namespace edgepack
