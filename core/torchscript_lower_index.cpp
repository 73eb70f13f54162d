// Lowerings of indexing and slicing: slice, select and embedding (Slice, Gather), chunk/split/
// unbind (one Split whose outputs become the items of the resulting list), and the lists and
// tuples of input-dependent tensors (construct, unpack, `__getitem__`, TupleIndex), which stay
// item by item in the converter and emit no nodes.
#include <limits>

#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

void lower_slice(Converter& c, const jit::Node* n) {
  const int64_t rank = c.rank(n->input(0));
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), rank);
  const int64_t start = c.is_none(n->input(2)) ? 0 : c.known_int(n, n->input(2));
  const int64_t end = c.is_none(n->input(3)) ? std::numeric_limits<int64_t>::max() : c.known_int(n, n->input(3));
  const int64_t step = c.known_int(n, n->input(4));
  c.lower_to(n, "Slice",
             {c.tensor(n->input(0)), c.ints_constant({start}, "starts"), c.ints_constant({end}, "ends"),
              c.ints_constant({axis}, "axes"), c.ints_constant({step}, "steps")});
}

void lower_select(Converter& c, const jit::Node* n) {
  const int64_t axis = normalize_dim(c.known_int(n, n->input(1)), c.rank(n->input(0)));
  std::string index = c.constant(at::scalar_tensor(c.known_int(n, n->input(2)), at::kLong), "index");
  c.lower_to(n, "Gather", {c.tensor(n->input(0)), index}, {{"axis", Attribute::of_int(axis)}});
}

void lower_embedding(Converter& c, const jit::Node* n) {
  c.lower_to(n, "Gather", {c.tensor(n->input(0)), c.tensor(n->input(1))}, {{"axis", Attribute::of_int(0)}});
}

// chunk / split / unbind: one Split whose outputs (squeezed for unbind) become the list's items.
void lower_split(Converter& c, const jit::Node* n) {
  const std::vector<at::Tensor> parts = c.slot(n->output()).example.toTensorVector();
  const int64_t rank = c.rank(n->input(0));
  const bool unbind = n->kind() == c10::aten::unbind;
  const int64_t axis = normalize_dim(c.known_int(n, n->input(unbind ? 1 : 2)), rank);
  std::vector<int64_t> sizes;
  std::vector<ValueType> types;
  for (const at::Tensor& p : parts) {
    sizes.push_back(unbind ? 1 : p.size(axis));
    types.push_back(ValueType::of(p));
    if (unbind) types.back().sizes.insert(types.back().sizes.begin() + axis, 1);
  }
  const std::string hint = n->output()->debugName();
  std::vector<std::string> outs = c.emit_outputs("Split", {c.tensor(n->input(0)), c.ints_constant(sizes, "split")},
                                                 {{"axis", Attribute::of_int(axis)}}, hint, types);
  Slot list = c.slot(n->output());
  list.dynamic = true;
  for (size_t k = 0; k < parts.size(); ++k) {
    std::string name = unbind ? c.emit("Squeeze", {outs[k], c.ints_constant({axis}, "axes")}, {}, hint + "_item",
                                       ValueType::of(parts[k]))
                              : outs[k];
    list.items.push_back(Slot{parts[k], true, name, {}});
  }
  c.bind(n->output(), list);
}

// A list or tuple whose items depend on the inputs: kept item by item.
void lower_list_construct(Converter& c, const jit::Node* n) {
  Slot list = c.slot(n->output());
  list.dynamic = true;
  for (const jit::Value* in : n->inputs()) list.items.push_back(c.slot(in));
  c.bind(n->output(), list);
}

void lower_list_unpack(Converter& c, const jit::Node* n) {
  const Slot& list = c.slot(n->input(0));
  for (size_t k = 0; k < n->outputs().size(); ++k) c.bind(n->output(k), Slot(list.items.at(k)));
}

void lower_getitem(Converter& c, const jit::Node* n) {
  const Slot& list = c.slot(n->input(0));
  if (n->input(0)->type()->kind() != c10::TypeKind::ListType && n->input(0)->type()->kind() != c10::TypeKind::TupleType)
    c.fail(n, "indexing a tensor this way is not supported; use slicing or select");
  int64_t index = c.known_int(n, n->input(1));
  if (index < 0) index += static_cast<int64_t>(list.items.size());
  c.bind(n->output(), Slot(list.items.at(static_cast<size_t>(index))));
}

}  // namespace

void add_index_lowerings(LoweringTable& t) {
  t["aten::slice"] = lower_slice;
  t["aten::select"] = lower_select;
  t["aten::embedding"] = lower_embedding;
  for (const char* op : {"aten::chunk", "aten::split", "aten::unbind"}) t[op] = lower_split;
  for (const char* op : {"prim::ListConstruct", "prim::TupleConstruct"}) t[op] = lower_list_construct;
  for (const char* op : {"prim::ListUnpack", "prim::TupleUnpack"}) t[op] = lower_list_unpack;
  for (const char* op : {"aten::__getitem__", "prim::TupleIndex"}) t[op] = lower_getitem;
}

}  // namespace edgepack::torchscript
