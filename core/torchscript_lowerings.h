// The lowerings: for each aten/prim op, the function that turns one TorchScript node whose
// inputs depend on the graph inputs into ONNX nodes (opset 17), through the Converter
// (core/torchscript_converter.h). Grouped by op family like the executor's kernels (core/ops/):
// each core/torchscript_lower_<family>.cpp adds its ops in one function, and lowerings() in
// core/torchscript_lowerings.cpp is the one list that calls them. docs/torchscript.md lists the
// ops with their ONNX forms.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/torchscript_converter.h"

namespace edgepack::torchscript {

using Lowering = std::function<void(Converter&, const jit::Node*)>;
using LoweringTable = std::map<std::string, Lowering>;

// Op kind ("aten::conv2d") -> lowering.
const LoweringTable& lowerings();

void add_linear_lowerings(LoweringTable& t);          // conv, conv_transpose, linear, matmul/mm/bmm, addmm
void add_normalization_lowerings(LoweringTable& t);   // batch_norm, layer_norm
void add_activation_lowerings(LoweringTable& t);      // relu, gelu, silu, hard*, clamp, softmax, log_softmax
void add_elementwise_lowerings(LoweringTable& t);     // unary math, add/sub/mul/div/pow, where, casts, identities
void add_shape_lowerings(LoweringTable& t);           // view/reshape, flatten, permute/transpose, (un)squeeze, expand, cat/stack
void add_index_lowerings(LoweringTable& t);           // slice, select, embedding, chunk/split/unbind, lists and tuples
void add_reduce_lowerings(LoweringTable& t);          // max/avg/adaptive pools, mean, sum

// --- shared by the families ---
// A one-value list (PyTorch's `[2]` for every spatial dim) repeated to n values.
std::vector<int64_t> repeat_to(std::vector<int64_t> v, size_t n);
int64_t normalize_dim(int64_t d, int64_t rank);
// The output is the first input itself (dropout in eval mode, contiguous, a no-op transpose).
void lower_alias(Converter& c, const jit::Node* n);
// One ONNX op on the first input.
Lowering unary(const std::string& op);
// ONNX's Conv and pools want (N, C, spatial...); PyTorch also takes an input without the batch
// dim, which they would misread (and ONNX 1.12's shape inference reads out of bounds on).
// Fails for a first input whose rank is not `rank`.
void require_batched(Converter& c, const jit::Node* n, int64_t rank);

}  // namespace edgepack::torchscript
