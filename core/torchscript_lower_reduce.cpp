// Lowerings of the pools and reductions: max_pool/avg_pool 1d-3d (MaxPool, AveragePool),
// adaptive_avg_pool (GlobalAveragePool, or AveragePool when the output size divides the
// input's), and mean/sum over dims or all of them (ReduceMean, ReduceSum).
#include <fmt/format.h>

#include "core/torchscript_lowerings.h"

namespace edgepack::torchscript {
namespace {

// The spatial dims of a pool from its name (max_pool2d: 2); its input must be batched.
size_t pool_spatial_dims(Converter& c, const jit::Node* n) {
  const std::string op = n->kind().toUnqualString();
  const int64_t spatial = op[op.size() - 2] - '0';
  require_batched(c, n, spatial + 2);
  return static_cast<size_t>(spatial);
}

// Pool kernels: max_pool(x, kernel, stride, padding, dilation, ceil_mode) and
// avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override).
void lower_pool(Converter& c, const jit::Node* n) {
  const bool max = n->kind().toUnqualString()[0] == 'm';
  const size_t spatial = pool_spatial_dims(c, n);
  std::vector<int64_t> kernel = repeat_to(c.known_ints(n, n->input(1)), spatial);
  std::vector<int64_t> stride = c.known_ints(n, n->input(2));
  stride = stride.empty() ? kernel : repeat_to(stride, spatial);
  std::vector<int64_t> pads = repeat_to(c.known_ints(n, n->input(3)), spatial);
  pads.insert(pads.end(), pads.begin(), pads.end());
  std::map<std::string, Attribute> attrs = {
      {"kernel_shape", Attribute::of_ints(kernel)}, {"strides", Attribute::of_ints(stride)}, {"pads", Attribute::of_ints(pads)}};
  if (max) {
    attrs["dilations"] = Attribute::of_ints(repeat_to(c.known_ints(n, n->input(4)), spatial));
    attrs["ceil_mode"] = Attribute::of_int(c.known(n, n->input(5)).toBool());
  } else {
    attrs["ceil_mode"] = Attribute::of_int(c.known(n, n->input(4)).toBool());
    attrs["count_include_pad"] = Attribute::of_int(c.known(n, n->input(5)).toBool());
    if (n->inputs().size() > 6 && !c.is_none(n->input(6))) c.fail(n, "avg_pool with divisor_override is not supported");
  }
  c.lower_to(n, max ? "MaxPool" : "AveragePool", {c.tensor(n->input(0))}, attrs);
}

// Output 1x1: GlobalAveragePool; an output size dividing the input: AveragePool with
// kernel = stride = input / output.
void lower_adaptive_avg_pool(Converter& c, const jit::Node* n) {
  pool_spatial_dims(c, n);
  const at::Tensor& x = c.example_tensor(n->input(0));
  const at::Tensor& y = c.example_tensor(n->output());
  std::vector<int64_t> kernel;
  bool global = true;
  for (int64_t d = 2; d < x.dim(); ++d) {
    if (x.size(d) % y.size(d) != 0)
      c.fail(n, fmt::format("output size {} does not divide input size {}", y.size(d), x.size(d)));
    kernel.push_back(x.size(d) / y.size(d));
    global = global && y.size(d) == 1;
  }
  if (global) return c.lower_to(n, "GlobalAveragePool", {c.tensor(n->input(0))});
  c.lower_to(n, "AveragePool", {c.tensor(n->input(0))},
             {{"kernel_shape", Attribute::of_ints(kernel)}, {"strides", Attribute::of_ints(kernel)}});
}

// mean/sum over dims (or all of them): (x, dtype) or (x, dims?, keepdim, dtype).
Lowering reduce(const std::string& op) {
  return [op](Converter& c, const jit::Node* n) {
    const int64_t rank = c.rank(n->input(0));
    const bool with_dims = n->inputs().size() >= 4;
    if (!c.is_none(n->inputs().back())) c.fail(n, "a reduction with a dtype is not supported");
    std::vector<int64_t> axes;
    if (with_dims && !c.is_none(n->input(1))) axes = c.known_ints(n, n->input(1));
    if (axes.empty())
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    for (int64_t& a : axes) a = normalize_dim(a, rank);
    const Attribute keepdims = Attribute::of_int(with_dims && c.known(n, n->input(2)).toBool());
    const std::string x = c.tensor(n->input(0));
    // ReduceMean takes axes as an attribute up to opset 17, ReduceSum as an input from 13.
    if (op == "ReduceSum") return c.lower_to(n, op, {x, c.ints_constant(axes, "axes")}, {{"keepdims", keepdims}});
    c.lower_to(n, op, {x}, {{"axes", Attribute::of_ints(axes)}, {"keepdims", keepdims}});
  };
}

}  // namespace

void add_reduce_lowerings(LoweringTable& t) {
  for (const char* op : {"aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::avg_pool1d", "aten::avg_pool2d",
                         "aten::avg_pool3d"})
    t[op] = lower_pool;
  for (const char* op : {"aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d"})
    t[op] = lower_adaptive_avg_pool;
  t["aten::mean"] = reduce("ReduceMean");
  t["aten::sum"] = reduce("ReduceSum");
}

}  // namespace edgepack::torchscript
