// The lowering table (the one list of the op families, see core/torchscript_lowerings.h) and the
// helpers the families share.
#include "core/torchscript_lowerings.h"

#include <fmt/format.h>

namespace edgepack::torchscript {

const LoweringTable& lowerings() {
  static const LoweringTable table = [] {
    LoweringTable t;
    add_linear_lowerings(t);
    add_normalization_lowerings(t);
    add_activation_lowerings(t);
    add_elementwise_lowerings(t);
    add_shape_lowerings(t);
    add_index_lowerings(t);
    add_reduce_lowerings(t);
    return t;
  }();
  return table;
}

std::vector<int64_t> repeat_to(std::vector<int64_t> v, size_t n) {
  if (v.size() == 1) v.assign(n, v[0]);
  return v;
}

int64_t normalize_dim(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

void lower_alias(Converter& c, const jit::Node* n) { c.bind(n, c.tensor(n->input(0))); }

Lowering unary(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) { c.lower_to(n, op, {c.tensor(n->input(0))}); };
}

void require_batched(Converter& c, const jit::Node* n, int64_t rank) {
  if (c.rank(n->input(0)) != rank)
    c.fail(n, fmt::format("an input of rank {} is not supported; {} wants rank {} (batch, channels, spatial dims)",
                          c.rank(n->input(0)), n->kind().toUnqualString(), rank));
}

}  // namespace edgepack::torchscript
