// Lowerings of the shape and view ops: view/reshape, flatten, permute/transpose/t,
// unsqueeze/squeeze, expand/expand_as, and cat/stack. The shapes they take are known numbers
// (the example run computed them), so they become constant inputs, never Shape arithmetic.
#include <algorithm>

#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

void lower_reshape(Converter& c, const jit::Node* n) {
  std::vector<int64_t> shape = c.known_ints(n, n->input(1));
  // ONNX reads 0 as "copy this dim"; a literal empty dim takes the example's shape instead.
  // Otherwise the source's list is kept, -1 included, so passes that change a channel count
  // (pruning) leave a valid reshape behind.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) shape = c.example_tensor(n->output()).sizes().vec();
  c.lower_to(n, "Reshape", {c.tensor(n->input(0)), c.ints_constant(shape, "shape")});
}

void lower_flatten(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  const int64_t start = normalize_dim(c.known_int(n, n->input(1)), rank), end = normalize_dim(c.known_int(n, n->input(2)), rank);
  const std::string x = c.tensor(n->input(0));
  if (rank == 0 || start == end) return c.bind(n, x);
  if (start == 1 && end == rank - 1) return c.lower_to(n, "Flatten", {x}, {{"axis", Attribute::of_int(1)}});
  std::vector<int64_t> shape(static_cast<size_t>(start), 0);
  shape.push_back(-1);
  shape.insert(shape.end(), static_cast<size_t>(rank - 1 - end), 0);
  c.lower_to(n, "Reshape", {x, c.ints_constant(shape, "shape")});
}

void transpose_to(Converter& c, const jit::Node* n, std::vector<int64_t> perm) {
  c.lower_to(n, "Transpose", {c.tensor(n->input(0))}, {{"perm", Attribute::of_ints(std::move(perm))}});
}

void lower_permute(Converter& c, const jit::Node* n) {
  std::vector<int64_t> perm = c.known_ints(n, n->input(1));
  for (int64_t& d : perm) d = normalize_dim(d, c.rank(n->input(0)));
  transpose_to(c, n, perm);
}

void lower_transpose(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  if (rank < 2) return lower_alias(c, n);
  int64_t a = rank - 2, b = rank - 1;   // aten::t
  if (n->inputs().size() == 3) {
    a = normalize_dim(c.known_int(n, n->input(1)), rank);
    b = normalize_dim(c.known_int(n, n->input(2)), rank);
  }
  if (a == b) return lower_alias(c, n);
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) perm[d] = d;
  std::swap(perm[a], perm[b]);
  transpose_to(c, n, perm);
}

void lower_unsqueeze(Converter& c, const jit::Node* n) {
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0)) + 1);
  c.lower_to(n, "Unsqueeze", {c.tensor(n->input(0)), c.ints_constant({axis}, "axes")});
}

void lower_squeeze(Converter& c, const jit::Node* n) {
  const at::Tensor& x = c.example_tensor(n->input(0));
  std::vector<int64_t> axes;
  if (n->inputs().size() > 1) {
    for (int64_t d : c.known_ints(n, n->input(1)))
      if (x.size(normalize_dim(d, x.dim())) == 1) axes.push_back(normalize_dim(d, x.dim()));
  } else {
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.size(d) == 1) axes.push_back(d);
  }
  // squeeze of a dim that is not 1 leaves the tensor as it is.
  if (axes.empty()) return lower_alias(c, n);
  c.lower_to(n, "Squeeze", {c.tensor(n->input(0)), c.ints_constant(axes, "axes")});
}

void lower_expand(Converter& c, const jit::Node* n) {
  c.lower_to(n, "Expand", {c.tensor(n->input(0)), c.ints_constant(c.example_tensor(n->output()).sizes().vec(), "shape")});
}

// cat: one Concat; stack: each item unsqueezed at the axis first.
void lower_cat(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->output());
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), rank);
  std::vector<std::string> inputs = c.tensors(n->input(0));
  const std::string hint = n->output()->debugName();
  if (n->kind() == c10::aten::stack)
    for (std::string& i : inputs) {
      ValueType item = c.type(i);
      item.sizes.insert(item.sizes.begin() + axis, 1);
      i = c.emit("Unsqueeze", {i, c.ints_constant({axis}, "axes")}, {}, hint + "_item", item);
    }
  c.lower_to(n, "Concat", inputs, {{"axis", Attribute::of_int(axis)}});
}

}  // namespace

void add_shape_lowerings(LoweringTable& t) {
  for (const char* op : {"aten::view", "aten::reshape"}) t[op] = lower_reshape;
  t["aten::flatten"] = lower_flatten;
  t["aten::permute"] = lower_permute;
  for (const char* op : {"aten::transpose", "aten::t"}) t[op] = lower_transpose;
  t["aten::unsqueeze"] = lower_unsqueeze;
  t["aten::squeeze"] = lower_squeeze;
  for (const char* op : {"aten::expand", "aten::expand_as"}) t[op] = lower_expand;
  for (const char* op : {"aten::cat", "aten::stack"}) t[op] = lower_cat;
}

}  // namespace edgepack::torchscript
