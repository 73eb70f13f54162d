// Reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSumExp/SumSquare), ArgMax/ArgMin and TopK.
// Axes: ReduceSum takes them as an input since opset 13, the others since opset 18 (an attribute
// before); both forms are accepted for every reduction.
#include <algorithm>

#include "core/ops/common.h"
#include "core/ops/ops.h"

namespace edgepack::ops {
namespace {

using Reduction = at::Tensor (*)(const at::Tensor& x, at::IntArrayRef dims, bool keep);

at::Tensor prod(const at::Tensor& x, at::IntArrayRef dims, bool keep) {
  // at::prod reduces one dim at a time; go from the last so earlier indices stay valid.
  at::Tensor y = x;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) y = at::prod(y, *it, keep);
  return y;
}

const std::map<std::string, Reduction> kReductions = {
    {"ReduceSum", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::sum(x, d, k); }},
    {"ReduceMean", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::mean(x, d, k); }},
    {"ReduceMax", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::amax(x, d, k); }},
    {"ReduceMin", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::amin(x, d, k); }},
    {"ReduceProd", prod},
    {"ReduceL1", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::sum(at::abs(x), d, k); }},
    {"ReduceL2", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::sqrt(at::sum(x * x, d, k)); }},
    {"ReduceSumSquare", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::sum(x * x, d, k); }},
    {"ReduceLogSumExp", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::logsumexp(x, d, k); }},
    {"ReduceLogSum", [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::log(at::sum(x, d, k)); }},
};

std::vector<at::Tensor> reduce(const KernelContext& c, Reduction f) {
  const at::Tensor& x = c.in(0);
  std::vector<int64_t> axes = ints_input_or_attr(c, 1, "axes").value_or(std::vector<int64_t>{});
  if (axes.empty()) {
    if (c.node.attr_int("noop_with_empty_axes", 0) != 0) return one(x);
    for (int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
  }
  axes = norm_axes(c.node, axes, x.dim());
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  const bool keep = c.node.attr_int("keepdims", 1) != 0;
  // Sum/Prod widen integers to int64 and Mean refuses them; ONNX keeps the input type.
  if (at::isIntegralType(x.scalar_type(), true))
    return one(f(x.to(at::kDouble), axes, keep).to(x.scalar_type()));
  return one(f(x, axes, keep));
}

// ArgMax/ArgMin; select_last_index=1 searches a flipped copy and maps the index back.
template <typename F>
Kernel arg_reduce(F f) {
  return [f](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 0), x.dim());
    const bool keep = c.node.attr_int("keepdims", 1) != 0;
    if (c.node.attr_int("select_last_index", 0) == 0) return one(f(x, axis, keep));
    return one((x.size(axis) - 1) - f(x.flip({axis}), axis, keep));
  };
}

std::vector<at::Tensor> top_k(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const std::vector<int64_t> k = c.ints(1);
  if (k.size() != 1) fail(c.node, "K must hold one value");
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", -1), x.dim());
  auto [values, indices] = at::topk(x, k[0], axis, c.node.attr_int("largest", 1) != 0, true);
  return {values, indices};
}

}  // namespace

void register_reduce(KernelTable& t) {
  for (const auto& [name, f] : kReductions) t[name] = [f = f](const KernelContext& c) { return reduce(c, f); };
  t["ArgMax"] = arg_reduce([](const at::Tensor& x, int64_t a, bool k) { return at::argmax(x, a, k); });
  t["ArgMin"] = arg_reduce([](const at::Tensor& x, int64_t a, bool k) { return at::argmin(x, a, k); });
  t["TopK"] = top_k;
}

}  // namespace edgepack::ops
