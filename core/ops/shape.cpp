// Shape and data-movement kernels: Reshape, Transpose, Concat, Slice, Gather, Squeeze, Split,
// Pad, Expand, Tile, and the constant/shape producers (Shape, Size, Constant, ConstantOfShape,
// Range). Results are views of their input where ATen allows it: tensors are never written in
// place, and constant folding makes what it keeps contiguous.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/ops/common.h"
#include "core/ops/ops.h"
#include "core/tensor_proto.h"

namespace edgepack::ops {
namespace {

std::vector<at::Tensor> reshape(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  std::vector<int64_t> shape = c.has(1) ? c.ints(1) : c.node.attr_ints("shape");
  const bool allow_zero = c.node.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != 0 || allow_zero) continue;
    // 0 copies the input's dim (unless allowzero=1, where it means an empty axis).
    if (static_cast<int64_t>(i) >= x.dim()) fail(c.node, fmt::format("shape[{}] = 0 has no input dim to copy", i));
    shape[i] = x.size(i);
  }
  return one(x.reshape(shape));
}

std::vector<at::Tensor> flatten(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t axis = c.node.attr_int("axis", 1);
  // axis may equal the rank (output [numel, 1]), so it is normalised against rank + 1.
  const int64_t a = axis < 0 ? axis + x.dim() : axis;
  if (a < 0 || a > x.dim()) fail(c.node, fmt::format("axis {} is out of range for rank {}", axis, x.dim()));
  return one(x.reshape({c10::multiply_integers(x.sizes().slice(0, a)), c10::multiply_integers(x.sizes().slice(a))}));
}

std::vector<at::Tensor> transpose(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty())
    for (int64_t d = x.dim(); d-- > 0;) perm.push_back(d);
  if (static_cast<int64_t>(perm.size()) != x.dim())
    fail(c.node, fmt::format("perm has {} values for rank {}", perm.size(), x.dim()));
  return one(x.permute(norm_axes(c.node, perm, x.dim())));
}

std::vector<at::Tensor> slice(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  // Inputs since opset 10, attributes before.
  auto starts = ints_input_or_attr(c, 1, "starts"), ends = ints_input_or_attr(c, 2, "ends");
  if (!starts || !ends || starts->size() != ends->size()) fail(c.node, "starts and ends must be given with equal lengths");
  std::vector<int64_t> axes = ints_input_or_attr(c, 3, "axes").value_or(std::vector<int64_t>{});
  if (axes.empty())
    for (size_t k = 0; k < starts->size(); ++k) axes.push_back(static_cast<int64_t>(k));
  std::vector<int64_t> steps = c.has(4) ? c.ints(4) : std::vector<int64_t>(starts->size(), 1);
  if (axes.size() != starts->size() || steps.size() != starts->size())
    fail(c.node, "starts, ends, axes and steps must have equal lengths");
  at::Tensor y = x;
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t axis = norm_axis(c.node, axes[k], x.dim()), dim = x.size(axis), step = steps[k];
    int64_t s = (*starts)[k], e = (*ends)[k];
    if (step == 0) fail(c.node, "steps must not be 0");
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      y = y.slice(axis, s, std::max(s, e), step);
      continue;
    }
    // Negative steps: ATen slices only forward, so take [e+1, s], flip it, then stride.
    s = std::clamp<int64_t>(s, 0, dim - 1);
    e = std::clamp<int64_t>(e, -1, dim - 1);
    if (dim == 0 || s <= e) y = y.slice(axis, 0, 0);
    else y = y.slice(axis, e + 1, s + 1).flip({axis}).slice(axis, 0, s - e, -step);
  }
  return one(y);
}

at::Tensor wrap_indices(const at::Tensor& idx, int64_t dim) {
  at::Tensor i = idx.to(at::kLong);
  return at::where(i < 0, i + dim, i);
}

std::vector<at::Tensor> gather(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &idx = c.in(1);
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 0), x.dim());
  at::Tensor y = x.index_select(axis, wrap_indices(idx, x.size(axis)).reshape(-1));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  shape.insert(shape.end(), idx.sizes().begin(), idx.sizes().end());
  shape.insert(shape.end(), x.sizes().begin() + axis + 1, x.sizes().end());
  return one(y.reshape(shape));
}

std::vector<at::Tensor> squeeze(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  std::vector<int64_t> axes = ints_input_or_attr(c, 1, "axes").value_or(std::vector<int64_t>{});
  if (axes.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.size(d) == 1) axes.push_back(d);
  }
  axes = norm_axes(c.node, axes, x.dim());
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  at::Tensor y = x;
  for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
    if (x.size(*it) != 1) fail(c.node, fmt::format("cannot squeeze axis {} of size {}", *it, x.size(*it)));
    y = y.squeeze(*it);
  }
  return one(y);
}

std::vector<at::Tensor> unsqueeze(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  auto axes = ints_input_or_attr(c, 1, "axes");
  if (!axes) fail(c.node, "axes must be given");
  std::vector<int64_t> a = norm_axes(c.node, *axes, x.dim() + static_cast<int64_t>(axes->size()));
  std::sort(a.begin(), a.end());
  if (std::adjacent_find(a.begin(), a.end()) != a.end()) fail(c.node, "axes contain duplicates");
  at::Tensor y = x;
  for (int64_t d : a) y = y.unsqueeze(d);
  return one(y);
}

std::vector<at::Tensor> split(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 0), x.dim()), dim = x.size(axis);
  const int64_t parts = static_cast<int64_t>(c.node.outputs.size());
  std::vector<int64_t> sizes = ints_input_or_attr(c, 1, "split").value_or(std::vector<int64_t>{});
  if (sizes.empty()) {
    // Equal parts; when they do not divide evenly the last is smaller (opset 18 num_outputs).
    const int64_t chunk = (dim + parts - 1) / std::max<int64_t>(parts, 1);
    for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  }
  if (static_cast<int64_t>(sizes.size()) != parts)
    fail(c.node, fmt::format("split has {} sizes for {} outputs", sizes.size(), parts));
  return x.split_with_sizes(sizes, axis);
}

std::vector<at::Tensor> pad(const KernelContext& c) {
  const Node& node = c.node;
  const at::Tensor& x = c.in(0);
  const int64_t rank = x.dim();
  const std::string mode = node.attr_string("mode", "constant");
  auto given = ints_input_or_attr(c, 1, "pads");
  if (!given) fail(node, "pads must be given");
  std::vector<int64_t> axes;
  if (c.has(3)) axes = norm_axes(node, c.ints(3), rank);
  else
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  const size_t n = axes.size();
  if (given->size() != 2 * n) fail(node, fmt::format("pads has {} values, expected {}", given->size(), 2 * n));
  std::vector<int64_t> pads(2 * rank, 0);  // [begin per dim..., end per dim...]
  for (size_t k = 0; k < n; ++k) pads[axes[k]] = (*given)[k], pads[axes[k] + rank] = (*given)[k + n];

  if (mode == "constant") {
    at::Scalar value = c.has(2) ? c.in(2).item() : at::Scalar(node.attr_float("value", 0.0f));
    return one(at::constant_pad_nd(x, torch_pad_order(pads), value));
  }
  if (mode != "reflect" && mode != "edge" && mode != "wrap") fail(node, fmt::format("mode '{}' is not supported", mode));
  at::Tensor y = x;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t b = pads[d], e = pads[d + rank];
    // Negative pads crop first; the remaining positive pads index into the cropped axis.
    const int64_t lo = std::max<int64_t>(0, -b), hi = y.size(d) - std::max<int64_t>(0, -e);
    if (lo > 0 || hi < y.size(d)) y = y.slice(d, lo, std::max(lo, hi));
    b = std::max<int64_t>(b, 0), e = std::max<int64_t>(e, 0);
    if (b == 0 && e == 0) continue;
    const int64_t len = y.size(d);
    if (len == 0) fail(node, fmt::format("cannot {}-pad an empty axis", mode));
    std::vector<int64_t> idx;
    for (int64_t j = -b; j < len + e; ++j) {
      if (mode == "edge") {
        idx.push_back(std::clamp<int64_t>(j, 0, len - 1));
      } else if (mode == "wrap") {
        idx.push_back(((j % len) + len) % len);
      } else {
        const int64_t period = 2 * (len - 1);
        const int64_t m = period == 0 ? 0 : ((j % period) + period) % period;
        idx.push_back(m < len ? m : period - m);
      }
    }
    y = y.index_select(d, at::tensor(idx, at::kLong).to(x.device()));
  }
  return one(y);
}

std::vector<at::Tensor> expand(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const std::vector<int64_t> shape = c.ints(1);
  const int64_t rank = std::max<int64_t>(x.dim(), static_cast<int64_t>(shape.size()));
  std::vector<int64_t> out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t xi = i - (rank - x.dim()), si = i - (rank - static_cast<int64_t>(shape.size()));
    const int64_t a = xi >= 0 ? x.size(xi) : 1, b = si >= 0 ? shape[si] : 1;
    if (a != b && a != 1 && b != 1) fail(c.node, fmt::format("cannot broadcast [{}] to [{}]", fmt::join(x.sizes(), ","), fmt::join(shape, ",")));
    out[i] = a == 1 ? b : a;
  }
  return one(x.expand(out));
}

std::vector<at::Tensor> shape_of(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t rank = x.dim();
  auto clamp = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  const int64_t start = clamp(c.node.attr_int("start", 0)), end = clamp(c.node.attr_int("end", rank));
  std::vector<int64_t> dims(x.sizes().begin() + start, x.sizes().begin() + std::max(start, end));
  return one(at::tensor(dims, at::kLong));
}

std::vector<at::Tensor> constant(const KernelContext& c) {
  const Node& node = c.node;
  if (node.has("value")) return one(node.attr("value").t);
  if (node.has("value_float")) return one(at::scalar_tensor(node.attr("value_float").f, at::kFloat));
  if (node.has("value_int")) return one(at::scalar_tensor(node.attr("value_int").i, at::kLong));
  if (node.has("value_floats")) return one(at::tensor(node.attr("value_floats").floats, at::kFloat));
  if (node.has("value_ints")) return one(at::tensor(node.attr("value_ints").ints, at::kLong));
  fail(node, "only value, value_float(s) and value_int(s) are supported (not sparse or string constants)");
}

std::vector<at::Tensor> constant_of_shape(const KernelContext& c) {
  const std::vector<int64_t> shape = c.ints(0);
  if (!c.node.has("value")) return one(at::zeros(shape, at::kFloat));
  const at::Tensor& v = c.node.attr("value").t;
  if (v.numel() != 1) fail(c.node, "value must hold exactly one element");
  return one(at::full(shape, v.item(), v.options()));
}

std::vector<at::Tensor> range(const KernelContext& c) {
  const at::Tensor &start = c.in(0), &limit = c.in(1), &delta = c.in(2);
  const at::ScalarType type = start.scalar_type();
  if (at::isIntegralType(type, false)) {
    const int64_t s = start.item<int64_t>(), l = limit.item<int64_t>(), d = delta.item<int64_t>();
    if (d == 0) fail(c.node, "delta must not be 0");
    const int64_t n = std::max<int64_t>(0, d > 0 ? (l - s + d - 1) / d : (s - l - d - 1) / -d);
    return one((at::arange(n, at::kLong) * d + s).to(type));
  }
  const double s = start.item<double>(), l = limit.item<double>(), d = delta.item<double>();
  if (d == 0) fail(c.node, "delta must not be 0");
  const auto n = static_cast<int64_t>(std::max(0.0, std::ceil((l - s) / d)));
  return one((at::arange(n, at::kDouble) * d + s).to(type));
}

}  // namespace

// HannWindow, HammingWindow, BlackmanWindow: a generalized cosine window of `size` points,
//   w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N),  N = size (periodic) or size - 1,
// with (a0, a1, a2) = (0.5, 0.5, 0), (25/46, 21/46, 0), (0.42, 0.5, 0.08).
Kernel cosine_window(double a0, double a1, double a2) {
  return [a0, a1, a2](const KernelContext& c) {
    const int64_t size = c.ints(0).at(0);
    if (size < 0) fail(c.node, fmt::format("window size {} is negative", size));
    const bool periodic = c.node.attr_int("periodic", 1) != 0;
    const double n_div = static_cast<double>(periodic ? size : std::max<int64_t>(size - 1, 1));
    const at::Tensor n = at::arange(size, at::kDouble);
    const double pi = 3.14159265358979323846;
    at::Tensor w = a0 - a1 * at::cos(2 * pi * n / n_div) + a2 * at::cos(4 * pi * n / n_div);
    return one(w.to(scalar_type_from_onnx(static_cast<int32_t>(c.node.attr_int("output_datatype", 1)), "output_datatype")));
  };
}

// ReverseSequence: the first sequence_lens[b] steps along time_axis reversed for each batch b.
std::vector<at::Tensor> reverse_sequence(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t batch_axis = norm_axis(c.node, c.node.attr_int("batch_axis", 1), x.dim());
  const int64_t time_axis = norm_axis(c.node, c.node.attr_int("time_axis", 0), x.dim());
  if (batch_axis == time_axis || x.dim() < 2) fail(c.node, "batch_axis and time_axis must be two different axes");
  const std::vector<int64_t> lens = c.ints(1);
  const int64_t batch = x.size(batch_axis), steps = x.size(time_axis);
  if (static_cast<int64_t>(lens.size()) != batch)
    fail(c.node, fmt::format("sequence_lens has {} values for a batch of {}", lens.size(), batch));
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = std::clamp<int64_t>(lens[b], 0, steps);
    std::vector<int64_t> order(steps);
    for (int64_t t = 0; t < steps; ++t) order[t] = t < len ? len - 1 - t : t;
    parts.push_back(x.narrow(batch_axis, b, 1).index_select(time_axis, at::tensor(order, at::kLong)));
  }
  return one(at::cat(parts, batch_axis));
}

void register_shape(KernelTable& t) {
  t["HannWindow"] = cosine_window(0.5, 0.5, 0);
  t["HammingWindow"] = cosine_window(25.0 / 46, 21.0 / 46, 0);
  t["BlackmanWindow"] = cosine_window(0.42, 0.5, 0.08);
  t["ReverseSequence"] = reverse_sequence;
  t["Identity"] = [](const KernelContext& c) { return one(c.in(0)); };
  t["Reshape"] = reshape;
  t["Flatten"] = flatten;
  t["Transpose"] = transpose;
  t["Concat"] = [](const KernelContext& c) {
    std::vector<at::Tensor> parts;
    for (size_t i = 0; i < c.size(); ++i) parts.push_back(c.in(i));
    return one(at::cat(parts, norm_axis(c.node, c.node.attr("axis").i, c.in(0).dim())));
  };
  t["Slice"] = slice;
  t["Gather"] = gather;
  t["GatherElements"] = [](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 0), x.dim());
    return one(at::gather(x, axis, wrap_indices(c.in(1), x.size(axis))));
  };
  t["Squeeze"] = squeeze;
  t["Unsqueeze"] = unsqueeze;
  t["Split"] = split;
  t["Pad"] = pad;
  t["Expand"] = expand;
  t["Tile"] = [](const KernelContext& c) {
    const std::vector<int64_t> repeats = c.ints(1);
    if (static_cast<int64_t>(repeats.size()) != c.in(0).dim())
      fail(c.node, fmt::format("repeats has {} values for rank {}", repeats.size(), c.in(0).dim()));
    return one(c.in(0).repeat(repeats));
  };
  t["Shape"] = shape_of;
  t["Size"] = [](const KernelContext& c) { return one(at::scalar_tensor(c.in(0).numel(), at::kLong)); };
  t["Constant"] = constant;
  t["ConstantOfShape"] = constant_of_shape;
  t["Range"] = range;
  // ONNX NonZero is [rank, count]; ATen gives [count, rank].
  t["NonZero"] = [](const KernelContext& c) { return one(at::nonzero(c.in(0)).t()); };
}

}  // namespace edgepack::ops
