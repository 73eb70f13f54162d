// Less common ai.onnx kernels (opsets up to 17, a few opset-18 extensions accepted):
//  - losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss;
//  - indexing and layout: Trilu, CumSum, OneHot, EyeLike, DepthToSpace, SpaceToDepth,
//    ScatterElements (and the opset 9-10 Scatter), ScatterND, GatherND, Compress, Unique, MaxUnpool;
//  - math: Det, Asinh, Acosh, Atanh, IsInf, Shrink, BitShift (ReduceLogSum is in reduce.cpp),
//    MeanVarianceNormalization;
//  - signal processing: DFT, STFT, MelWeightMatrix (audio front ends);
//  - integer / quantized: DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
//    QLinearConv;
//  - sampling and detection: GridSample, RoiAlign, NonMaxSuppression.
// Semantics choices that are not obvious from the spec text:
//  - Losses follow ONNX's reference: a target equal to ignore_index contributes 0 to the loss
//    and 0 to the weight sum; `mean` divides the (weighted) sum by the sum of the per-element
//    weights (the count of non-ignored targets without a weight input). A target outside [0, C)
//    that is not ignore_index is an error.
//  - Negative indices wrap (ScatterElements, ScatterND, GatherND, OneHot); indices still out of
//    range are an error, except OneHot, whose out-of-range indices give an all-`off` row.
//  - Duplicate indices in ScatterElements/ScatterND with reduction=none: the last update wins
//    (what ATen's CPU scatter does; the spec leaves it undefined).
//  - MaxUnpool with output_shape unpools into a tensor of that shape, the indices being flat
//    positions in it (PyTorch's and onnxruntime's reading, onnx/onnx#2398); ONNX's
//    test_maxunpool_export_with_output_shape encodes an older "pad the default shape" reading.
//  - MeanVarianceNormalization is (X - mean) / (sqrt(var) + 1e-9) as in the ONNX function body;
//    the variance is computed as mean((X - mean)^2), which cannot go negative.
//  - Integer ops compute exactly: int8/uint8 products accumulated in double (exact far beyond any
//    realistic K) and returned as int32. QLinear* requantize as onnxruntime does: the multiplier
//    x_scale * w_scale / y_scale in float32, the int32 accumulator times it in float32, rounded
//    half to even, plus the output zero point, saturated to the output type.
//  - GridSample is ATen's grid_sampler (ONNX defines the op after torch's grid_sample).
//    RoiAlign and NonMaxSuppression follow onnxruntime (RoiAlign max mode: the maximum of the
//    bilinearly weighted corner values; NMS: scores strictly above score_threshold, IoU strictly
//    above iou_threshold suppresses, ties in score keep the lower box index first). Both run on
//    the CPU in float32 and are not differentiable.
//  - BitShift works on uint8 and on the widened uint16/32/64 (core/tensor_proto.h): their values
//    are never negative, so the right shift is logical; a left shift past the narrow width is
//    not wrapped.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/ops/common.h"
#include "core/ops/ops.h"
#include "core/tensor_proto.h"

namespace edgepack::ops {
namespace {

// ---------------------------------------------------------------------------------------------
// Losses

std::string reduction_attr(const Node& node, std::initializer_list<const char*> allowed) {
  const std::string r = node.attr_string("reduction", "mean");
  for (const char* a : allowed)
    if (r == a) return r;
  fail(node, fmt::format("reduction '{}' is not supported", r));
}

// NLL of log-probabilities `logp` [N, C, d...] at `target` [N, d...].
at::Tensor nll_loss(const Node& node, const at::Tensor& logp, const at::Tensor& target, const at::Tensor& weight) {
  const std::string reduction = reduction_attr(node, {"none", "sum", "mean"});
  if (logp.dim() < 2) fail(node, fmt::format("input must have rank >= 2, got {}", logp.dim()));
  if (target.dim() != logp.dim() - 1 || target.size(0) != logp.size(0))
    fail(node, fmt::format("target shape [{}] does not match input [{}]", fmt::join(target.sizes(), ","),
                           fmt::join(logp.sizes(), ",")));
  for (int64_t d = 2; d < logp.dim(); ++d)
    if (target.size(d - 1) != logp.size(d))
      fail(node, fmt::format("target shape [{}] does not match input [{}]", fmt::join(target.sizes(), ","),
                             fmt::join(logp.sizes(), ",")));
  const int64_t classes = logp.size(1);
  const at::Tensor t = target.to(at::kLong);
  at::Tensor keep;  // bool, true where the target counts; undefined = all count
  if (node.has("ignore_index")) keep = t != node.attr_int("ignore_index", 0);
  at::Tensor bad = (t < 0) | (t >= classes);
  if (keep.defined()) bad = bad & keep;
  if (bad.any().item<bool>()) fail(node, fmt::format("a target is outside [0, {})", classes));
  const at::Tensor tc = t.clamp(0, classes - 1);
  at::Tensor loss = -at::gather(logp, 1, tc.unsqueeze(1)).squeeze(1);
  at::Tensor w;  // per-element weight, or undefined = 1
  if (weight.defined()) {
    if (weight.dim() != 1 || weight.size(0) != classes)
      fail(node, fmt::format("weight must have shape [{}], got [{}]", classes, fmt::join(weight.sizes(), ",")));
    w = weight.to(logp.scalar_type()).index_select(0, tc.reshape(-1)).reshape(tc.sizes());
  }
  if (keep.defined()) {
    const at::Tensor zero = at::zeros({}, logp.options());
    w = at::where(keep, w.defined() ? w : at::ones({}, logp.options()), zero);
    // where, not a product: an ignored position may index an arbitrary (even infinite) input.
    loss = at::where(keep, loss * w, zero);
  } else if (w.defined()) {
    loss = loss * w;
  }
  if (reduction == "none") return loss;
  if (reduction == "sum") return loss.sum();
  return w.defined() ? loss.sum() / w.sum() : loss.mean();
}

std::vector<at::Tensor> nll(const KernelContext& c) {
  return one(nll_loss(c.node, c.in(0), c.in(1), c.has(2) ? c.in(2) : at::Tensor()));
}

std::vector<at::Tensor> softmax_cross_entropy(const KernelContext& c) {
  const at::Tensor& scores = c.in(0);
  if (scores.dim() < 2) fail(c.node, fmt::format("scores must have rank >= 2, got {}", scores.dim()));
  at::Tensor log_prob = at::log_softmax(scores, 1);
  at::Tensor loss = nll_loss(c.node, log_prob, c.in(1), c.has(2) ? c.in(2) : at::Tensor());
  return {loss, log_prob};
}

// ---------------------------------------------------------------------------------------------
// Indexing and layout

int64_t scalar_int(const KernelContext& c, size_t i, const char* what) {
  const std::vector<int64_t> v = c.ints(i);
  if (v.size() != 1) fail(c.node, fmt::format("{} must hold one value, got {}", what, v.size()));
  return v[0];
}

std::vector<at::Tensor> trilu(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  if (x.dim() < 2) fail(c.node, fmt::format("input must have rank >= 2, got {}", x.dim()));
  const int64_t k = c.has(1) ? scalar_int(c, 1, "k") : 0;
  return one(c.node.attr_int("upper", 1) ? at::triu(x, k) : at::tril(x, k));
}

std::vector<at::Tensor> cumsum(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t axis = norm_axis(c.node, scalar_int(c, 1, "axis"), x.dim());
  const bool reverse = c.node.attr_int("reverse", 0) != 0, exclusive = c.node.attr_int("exclusive", 0) != 0;
  at::Tensor y = reverse ? x.flip({axis}) : x;
  at::Tensor s = at::cumsum(y, axis, x.scalar_type());
  if (exclusive && x.dim() > 0 && x.size(axis) > 0) {
    // Shift by one: [0, s0, s0+s1, ...] (exact, unlike s - x in floating point).
    std::vector<int64_t> pads(2 * (x.dim() - axis), 0);
    pads[pads.size() - 2] = 1;
    s = at::constant_pad_nd(s.narrow(axis, 0, x.size(axis) - 1), pads, 0);
  }
  return one(reverse ? s.flip({axis}) : s);
}

std::vector<at::Tensor> one_hot(const KernelContext& c) {
  const at::Tensor &indices = c.in(0), &depth_t = c.in(1), &values = c.in(2);
  if (depth_t.numel() != 1) fail(c.node, "depth must hold one value");
  if (values.numel() != 2) fail(c.node, "values must hold [off_value, on_value]");
  const auto depth = static_cast<int64_t>(depth_t.item<double>());
  if (depth < 1) fail(c.node, fmt::format("depth must be positive, got {}", depth));
  const int64_t rank = indices.dim() + 1;
  const int64_t a = c.node.attr_int("axis", -1);
  if (a < -rank || a >= rank) fail(c.node, fmt::format("axis {} is out of range for output rank {}", a, rank));
  const int64_t axis = a < 0 ? a + rank : a;
  // Float indices are truncated toward zero (cast to int), then negative ones wrap once.
  at::Tensor idx = indices.to(at::kLong);
  idx = at::where(idx < 0, idx + depth, idx);
  at::Tensor hot = idx.unsqueeze(-1) == at::arange(depth, idx.options());
  hot = hot.movedim(-1, axis);
  const at::Tensor v = values.reshape({2});
  return one(at::where(hot, v[1], v[0]));
}

std::vector<at::Tensor> eye_like(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  if (x.dim() != 2) fail(c.node, fmt::format("input must be 2-D, got rank {}", x.dim()));
  const at::ScalarType type = c.node.has("dtype")
                                  ? scalar_type_from_onnx(static_cast<int32_t>(c.node.attr("dtype").i), c.node.label())
                                  : x.scalar_type();
  const int64_t k = c.node.attr_int("k", 0);
  const auto opts = at::TensorOptions().dtype(at::kLong).device(x.device());
  at::Tensor diag = at::arange(x.size(1), opts).unsqueeze(0) - at::arange(x.size(0), opts).unsqueeze(1) == k;
  return one(diag.to(type));
}

std::vector<at::Tensor> depth_to_space(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t b = c.node.attr("blocksize").i;
  if (x.dim() != 4) fail(c.node, fmt::format("input must be 4-D, got rank {}", x.dim()));
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3);
  if (b < 1 || ch % (b * b) != 0) fail(c.node, fmt::format("channels {} are not divisible by blocksize^2 ({})", ch, b * b));
  const std::string mode = c.node.attr_string("mode", "DCR");
  at::Tensor y;
  if (mode == "DCR") y = x.reshape({n, b, b, ch / (b * b), h, w}).permute({0, 3, 4, 1, 5, 2});
  else if (mode == "CRD") y = x.reshape({n, ch / (b * b), b, b, h, w}).permute({0, 1, 4, 2, 5, 3});
  else fail(c.node, fmt::format("mode '{}' is not supported", mode));
  return one(y.reshape({n, ch / (b * b), h * b, w * b}));
}

std::vector<at::Tensor> space_to_depth(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t b = c.node.attr("blocksize").i;
  if (x.dim() != 4) fail(c.node, fmt::format("input must be 4-D, got rank {}", x.dim()));
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3);
  if (b < 1 || h % b != 0 || w % b != 0)
    fail(c.node, fmt::format("spatial dims {}x{} are not divisible by blocksize {}", h, w, b));
  return one(x.reshape({n, ch, h / b, b, w / b, b}).permute({0, 3, 5, 1, 2, 4}).reshape({n, ch * b * b, h / b, w / b}));
}

// Indices wrapped into [0, dim); InputError when one is still out of range.
at::Tensor checked_indices(const Node& node, const at::Tensor& idx, int64_t dim) {
  at::Tensor i = idx.to(at::kLong);
  i = at::where(i < 0, i + dim, i);
  if (i.numel() > 0 && ((i < 0) | (i >= dim)).any().item<bool>())
    fail(node, fmt::format("an index is outside [-{0}, {0})", dim));
  return i;
}

std::vector<at::Tensor> scatter_elements(const KernelContext& c) {
  const at::Tensor &data = c.in(0), &updates = c.in(2);
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 0), data.dim());
  const at::Tensor idx = checked_indices(c.node, c.in(1), data.size(axis));
  if (idx.sizes() != updates.sizes()) fail(c.node, "indices and updates must have the same shape");
  const std::string r = c.node.attr_string("reduction", "none");
  const at::Tensor upd = updates.to(data.scalar_type());
  if (r == "none") return one(at::scatter(data, axis, idx, upd));
  if (r == "add") return one(at::scatter_add(data, axis, idx, upd));
  const char* reduce = r == "add" ? "sum" : r == "mul" ? "prod" : r == "max" ? "amax" : r == "min" ? "amin" : nullptr;
  if (!reduce) fail(c.node, fmt::format("reduction '{}' is not supported", r));
  return one(at::scatter_reduce(data, axis, idx, upd, reduce, true));
}

// Flat positions of the index tuples idx[..., k] into dims [first, first + k) of `shape`.
at::Tensor linear_index(const Node& node, const at::Tensor& idx, at::IntArrayRef shape, int64_t first) {
  const int64_t k = idx.size(-1);
  at::Tensor lin = at::zeros(idx.sizes().slice(0, idx.dim() - 1), idx.options().dtype(at::kLong));
  for (int64_t j = 0; j < k; ++j) {
    const int64_t dim = shape[first + j];
    lin = lin * dim + checked_indices(node, idx.select(-1, j), dim);
  }
  return lin;
}

std::vector<at::Tensor> scatter_nd(const KernelContext& c) {
  const at::Tensor &data = c.in(0), &indices = c.in(1), &updates = c.in(2);
  if (indices.dim() < 1) fail(c.node, "indices must have rank >= 1");
  const int64_t k = indices.size(-1);
  if (k > data.dim()) fail(c.node, fmt::format("index tuples of length {} exceed the data rank {}", k, data.dim()));
  std::vector<int64_t> want(indices.sizes().begin(), indices.sizes().end() - 1);
  want.insert(want.end(), data.sizes().begin() + k, data.sizes().end());
  if (updates.sizes() != at::IntArrayRef(want))
    fail(c.node, fmt::format("updates shape [{}], expected [{}]", fmt::join(updates.sizes(), ","), fmt::join(want, ",")));
  const at::Tensor lin = linear_index(c.node, indices, data.sizes(), 0).reshape(-1);
  std::vector<int64_t> flat_shape{c10::multiply_integers(data.sizes().slice(0, k))};
  flat_shape.insert(flat_shape.end(), data.sizes().begin() + k, data.sizes().end());
  const at::Tensor flat = data.reshape(flat_shape);
  std::vector<int64_t> upd_shape{lin.numel()};
  upd_shape.insert(upd_shape.end(), data.sizes().begin() + k, data.sizes().end());
  const at::Tensor upd = updates.to(data.scalar_type()).reshape(upd_shape);
  const std::string r = c.node.attr_string("reduction", "none");
  at::Tensor y;
  if (r == "none") y = at::index_put(flat, {lin}, upd, false);
  else if (r == "add") y = at::index_put(flat, {lin}, upd, true);
  else if (r == "mul") y = at::index_reduce(flat, 0, lin, upd, "prod", true);
  else if (r == "max") y = at::index_reduce(flat, 0, lin, upd, "amax", true);
  else if (r == "min") y = at::index_reduce(flat, 0, lin, upd, "amin", true);
  else fail(c.node, fmt::format("reduction '{}' is not supported", r));
  return one(y.reshape(data.sizes()));
}

std::vector<at::Tensor> gather_nd(const KernelContext& c) {
  const at::Tensor &data = c.in(0), &indices = c.in(1);
  const int64_t b = c.node.attr_int("batch_dims", 0);
  if (indices.dim() < 1) fail(c.node, "indices must have rank >= 1");
  const int64_t k = indices.size(-1);
  if (b < 0 || b >= std::min(data.dim(), indices.dim()) || b + k > data.dim())
    fail(c.node, fmt::format("batch_dims {} with index tuples of length {} do not fit data rank {} and indices rank {}", b,
                             k, data.dim(), indices.dim()));
  for (int64_t d = 0; d < b; ++d)
    if (data.size(d) != indices.size(d)) fail(c.node, "the batch dims of data and indices differ");
  const int64_t batch = c10::multiply_integers(data.sizes().slice(0, b));
  std::vector<int64_t> flat_shape{batch, c10::multiply_integers(data.sizes().slice(b, k))};
  flat_shape.insert(flat_shape.end(), data.sizes().begin() + b + k, data.sizes().end());
  const at::Tensor flat = data.reshape(flat_shape);
  const at::Tensor lin = linear_index(c.node, indices, data.sizes(), b).reshape({batch, -1});
  const at::Tensor rows = at::arange(batch, lin.options()).unsqueeze(1).expand_as(lin);
  at::Tensor y = at::index(flat, {rows, lin});  // [batch, M, rest...]
  std::vector<int64_t> out(indices.sizes().begin(), indices.sizes().end() - 1);
  out.insert(out.end(), data.sizes().begin() + b + k, data.sizes().end());
  return one(y.reshape(out));
}

std::vector<at::Tensor> compress(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &cond = c.in(1);
  if (cond.dim() != 1) fail(c.node, "condition must be 1-D");
  const at::Tensor in = c.node.has("axis") ? x : x.reshape(-1);
  const int64_t axis = c.node.has("axis") ? norm_axis(c.node, c.node.attr("axis").i, x.dim()) : 0;
  const at::Tensor idx = at::nonzero(cond.to(at::kBool)).reshape(-1);
  // A condition shorter than the axis selects among its first entries only (numpy.compress).
  if (idx.numel() > 0 && idx.max().item<int64_t>() >= in.size(axis))
    fail(c.node, fmt::format("condition selects past the end of an axis of size {}", in.size(axis)));
  return one(in.index_select(axis, idx.to(x.device())));
}

std::vector<at::Tensor> unique(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const bool sorted = c.node.attr_int("sorted", 1) != 0;
  const bool by_axis = c.node.has("axis");
  const int64_t axis = by_axis ? norm_axis(c.node, c.node.attr("axis").i, x.dim()) : 0;
  at::Tensor values, inverse, counts;
  if (by_axis) std::tie(values, inverse, counts) = at::unique_dim(x, axis, true, true, true);
  else std::tie(values, inverse, counts) = at::_unique2(x.reshape(-1), true, true, true);
  inverse = inverse.reshape(-1);
  const int64_t u = counts.numel();
  // First occurrence of each unique value (slice): a stable sort of the inverse groups the
  // positions of each value in increasing order; the first of each group is its first occurrence.
  const at::Tensor by_value = std::get<1>(at::sort(inverse, /*stable=*/true, 0, false));
  const at::Tensor starts = at::cumsum(counts, 0) - counts;
  at::Tensor first = u == 0 ? counts.to(at::kLong) : by_value.index_select(0, starts.to(at::kLong));
  if (!sorted) {
    // Order of first occurrence.
    const at::Tensor perm = at::argsort(first);
    values = values.index_select(axis, perm);
    first = first.index_select(0, perm);
    counts = counts.index_select(0, perm);
    inverse = at::argsort(perm).index_select(0, inverse);
  }
  return {values, first, inverse, counts.to(at::kLong)};
}

std::vector<at::Tensor> max_unpool(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &indices = c.in(1);
  if (x.dim() < 3) fail(c.node, fmt::format("input must have rank >= 3, got {}", x.dim()));
  if (indices.sizes() != x.sizes()) fail(c.node, "indices must have the shape of the input");
  const size_t n = static_cast<size_t>(x.dim() - 2);
  const std::vector<int64_t> kernel = c.node.attr("kernel_shape").ints;
  const auto strides = c.node.attr_ints("strides", std::vector<int64_t>(n, 1));
  const auto pads = c.node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (kernel.size() != n || strides.size() != n || pads.size() != 2 * n)
    fail(c.node, fmt::format("kernel_shape/strides/pads must have {}/{}/{} values", n, n, 2 * n));
  std::vector<int64_t> out = x.sizes().vec();
  if (c.has(2)) {
    out = c.ints(2);
    if (out.size() != n + 2 || out[0] != x.size(0) || out[1] != x.size(1))
      fail(c.node, fmt::format("output_shape [{}] does not fit input [{}]", fmt::join(out, ","), fmt::join(x.sizes(), ",")));
  } else {
    for (size_t i = 0; i < n; ++i) out[2 + i] = (x.size(2 + i) - 1) * strides[i] + kernel[i] - pads[i] - pads[i + n];
  }
  const int64_t total = c10::multiply_integers(out);
  const at::Tensor idx = indices.to(at::kLong).reshape(-1);
  if (idx.numel() > 0 && ((idx < 0) | (idx >= total)).any().item<bool>())
    fail(c.node, fmt::format("an index is outside the output of {} elements", total));
  at::Tensor y = at::index_put(at::zeros({total}, x.options()), {idx}, x.reshape(-1), false);
  return one(y.reshape(out));
}

// ---------------------------------------------------------------------------------------------
// Math

std::vector<at::Tensor> shrink(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const double lambd = c.node.attr_float("lambd", 0.5f), bias = c.node.attr_float("bias", 0.0f);
  const at::Tensor zero = at::zeros({}, x.options());
  at::Tensor y = at::where(x < -lambd, x + bias, at::where(x > lambd, x - bias, zero));
  return one(y.to(x.scalar_type()));
}

std::vector<at::Tensor> bit_shift(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &y = c.in(1);
  const std::string dir = c.node.attr("direction").s;
  if (dir == "LEFT") return one(at::bitwise_left_shift(x, y));
  if (dir == "RIGHT") return one(at::bitwise_right_shift(x, y));
  fail(c.node, fmt::format("direction '{}' is not LEFT or RIGHT", dir));
}

std::vector<at::Tensor> is_inf(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const bool pos = c.node.attr_int("detect_positive", 1) != 0, neg = c.node.attr_int("detect_negative", 1) != 0;
  if (pos && neg) return one(at::isinf(x));
  if (pos) return one(at::isposinf(x));
  if (neg) return one(at::isneginf(x));
  return one(at::zeros(x.sizes(), x.options().dtype(at::kBool)));
}

std::vector<at::Tensor> mean_variance_normalization(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  std::vector<int64_t> axes = norm_axes(c.node, c.node.attr_ints("axes", {0, 2, 3}), x.dim());
  const at::Tensor mean = x.mean(axes, true);
  const at::Tensor centred = x - mean;
  return one(centred / (at::sqrt((centred * centred).mean(axes, true)) + 1e-9));
}

// ---------------------------------------------------------------------------------------------
// Integer and quantized

std::vector<at::Tensor> dynamic_quantize_linear(const KernelContext& c) {
  const at::Tensor x = c.in(0).to(at::kCPU, at::kFloat).contiguous();
  const float* p = x.data_ptr<float>();
  float lo = 0, hi = 0;  // the range always includes 0
  for (int64_t i = 0; i < x.numel(); ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
  const float scale = (hi - lo) / 255.0f;
  const float zp = scale == 0 ? 0.0f : std::clamp(std::nearbyint((0.0f - lo) / scale), 0.0f, 255.0f);
  at::Tensor y = scale == 0 ? at::full(x.sizes(), zp, x.options())
                            : at::clamp(at::round(x / scale) + zp, 0, 255);  // half to even
  const auto dev = c.in(0).device();
  return {y.to(at::kByte).to(dev), at::scalar_tensor(scale, at::kFloat).to(dev),
          at::scalar_tensor(static_cast<uint8_t>(zp), at::TensorOptions().dtype(at::kByte)).to(dev)};
}

// A zero point (or scale) given per row of A [..., M, K] ([M]) reshaped to [M, 1]; per column of
// B [..., K, N] ([N]) to [N] (broadcasts as the last dim); scalars and 1-element tensors flat.
at::Tensor matmul_param(const Node& node, const at::Tensor& p, int64_t size, bool per_row, const char* what) {
  if (!p.defined()) return p;
  if (p.numel() == 1) return p.reshape({});
  if (p.dim() > 1 || p.numel() != size)
    fail(node, fmt::format("{} of shape [{}] is neither per-tensor nor of {} values", what, fmt::join(p.sizes(), ","), size));
  return per_row ? p.reshape({size, 1}) : p.reshape({size});
}

at::Tensor centred(const at::Tensor& q, const at::Tensor& zp) {
  at::Tensor d = q.to(at::kDouble);
  return zp.defined() ? d - zp.to(at::kDouble) : d;
}

at::Tensor integer_matmul(const Node& node, const at::Tensor& a, const at::Tensor& a_zp, const at::Tensor& b,
                          const at::Tensor& b_zp) {
  if (a.dim() < 1 || b.dim() < 1) fail(node, "A and B must have rank >= 1");
  const int64_t m = a.dim() >= 2 ? a.size(-2) : 1, n = b.dim() >= 2 ? b.size(-1) : 1;
  const at::Tensor az = matmul_param(node, a_zp, m, a.dim() >= 2, "a_zero_point");
  const at::Tensor bz = matmul_param(node, b_zp, n, false, "b_zero_point");
  return at::round(at::matmul(centred(a, az), centred(b, bz)));
}

// acc (double, exact integers) * multiplier in float32, half to even, + zp, saturated to zp's type.
at::Tensor requantize(const at::Tensor& acc, const at::Tensor& multiplier, const at::Tensor& y_zp) {
  at::Tensor v = at::round(acc.to(at::kFloat) * multiplier.to(at::kFloat));
  const at::ScalarType type = y_zp.defined() ? y_zp.scalar_type() : at::kByte;
  if (y_zp.defined()) v = v + y_zp.to(at::kFloat);
  const double lo = type == at::kChar ? -128 : 0, hi = type == at::kChar ? 127 : 255;
  return at::clamp(v, lo, hi).to(type);
}

void check_quant_type(const Node& node, const at::Tensor& t, const char* what) {
  if (t.defined() && t.scalar_type() != at::kByte && t.scalar_type() != at::kChar)
    fail(node, fmt::format("{} must be int8 or uint8, got {}", what, c10::toString(t.scalar_type())));
}

std::vector<at::Tensor> matmul_integer(const KernelContext& c) {
  check_quant_type(c.node, c.in(0), "A");
  check_quant_type(c.node, c.in(1), "B");
  at::Tensor az = c.has(2) ? c.in(2) : at::Tensor(), bz = c.has(3) ? c.in(3) : at::Tensor();
  return one(integer_matmul(c.node, c.in(0), az, c.in(1), bz).to(at::kInt));
}

std::vector<at::Tensor> qlinear_matmul(const KernelContext& c) {
  const at::Tensor &a = c.in(0), &b = c.in(3);
  check_quant_type(c.node, a, "A");
  check_quant_type(c.node, b, "B");
  const int64_t m = a.dim() >= 2 ? a.size(-2) : 1, n = b.dim() >= 2 ? b.size(-1) : 1;
  const at::Tensor acc = integer_matmul(c.node, a, c.in(2), b, c.in(5));
  const at::Tensor a_scale = matmul_param(c.node, c.in(1).to(at::kFloat), m, a.dim() >= 2, "a_scale");
  const at::Tensor b_scale = matmul_param(c.node, c.in(4).to(at::kFloat), n, false, "b_scale");
  const at::Tensor y_scale = c.in(6).to(at::kFloat), y_zp = c.in(7);
  if (y_scale.numel() != 1 || y_zp.numel() != 1) fail(c.node, "y_scale and y_zero_point must be per-tensor");
  return one(requantize(acc, a_scale * b_scale / y_scale.reshape({}), y_zp.reshape({})));
}

// Conv of (x - x_zp) with (w - w_zp) in double: exact integer sums. The padding is zero after
// the zero point is subtracted (i.e. the padded input value is x_zp).
at::Tensor integer_conv(const KernelContext& c, const at::Tensor& x, const at::Tensor& x_zp, const at::Tensor& w,
                        const at::Tensor& w_zp) {
  const Node& node = c.node;
  if (x.dim() < 3 || w.dim() != x.dim()) fail(node, "input and weight must have the same rank >= 3");
  if (x_zp.defined() && x_zp.numel() != 1) fail(node, "the input zero point must be per-tensor");
  const size_t n = static_cast<size_t>(x.dim() - 2);
  const int64_t out_ch = w.size(0);
  at::Tensor wz = w_zp;
  if (wz.defined()) {
    if (wz.numel() == 1) wz = wz.reshape({});
    else if (wz.dim() == 1 && wz.numel() == out_ch) {
      std::vector<int64_t> shape(w.dim(), 1);
      shape[0] = out_ch;
      wz = wz.reshape(shape);
    } else {
      fail(node, fmt::format("the weight zero point must be per-tensor or of {} values", out_ch));
    }
  }
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape", w.sizes().slice(2).vec());
  if (kernel.size() != n) fail(node, fmt::format("kernel_shape must have {} values", n));
  const auto strides = node.attr_ints("strides", std::vector<int64_t>(n, 1));
  const auto dilations = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n) fail(node, fmt::format("strides/dilations must have {} values", n));
  std::vector<int64_t> extent(n);
  for (size_t i = 0; i < n; ++i) extent[i] = (kernel[i] - 1) * dilations[i] + 1;
  const std::vector<int64_t> pads = conv_pads(node, x.sizes().slice(2), extent, strides);
  at::Tensor input = at::constant_pad_nd(centred(x, x_zp.defined() ? x_zp.reshape({}) : x_zp), torch_pad_order(pads), 0);
  return at::round(at::convolution(input, centred(w, wz), at::Tensor(), strides, std::vector<int64_t>(n, 0), dilations,
                                   false, std::vector<int64_t>(n, 0), node.attr_int("group", 1)));
}

std::vector<at::Tensor> conv_integer(const KernelContext& c) {
  check_quant_type(c.node, c.in(0), "x");
  check_quant_type(c.node, c.in(1), "w");
  at::Tensor xz = c.has(2) ? c.in(2) : at::Tensor(), wz = c.has(3) ? c.in(3) : at::Tensor();
  return one(integer_conv(c, c.in(0), xz, c.in(1), wz).to(at::kInt));
}

std::vector<at::Tensor> qlinear_conv(const KernelContext& c) {
  check_quant_type(c.node, c.in(0), "x");
  check_quant_type(c.node, c.in(3), "w");
  const at::Tensor& w = c.in(3);
  at::Tensor acc = integer_conv(c, c.in(0), c.in(2), w, c.in(5));
  std::vector<int64_t> per_channel(acc.dim(), 1);
  per_channel[1] = w.size(0);
  if (c.has(8)) {
    const at::Tensor& bias = c.in(8);
    if (bias.numel() != w.size(0)) fail(c.node, fmt::format("B must have {} values", w.size(0)));
    acc = acc + bias.to(at::kDouble).reshape(per_channel);
  }
  const at::Tensor x_scale = c.in(1).to(at::kFloat), y_scale = c.in(6).to(at::kFloat), y_zp = c.in(7);
  at::Tensor w_scale = c.in(4).to(at::kFloat);
  if (x_scale.numel() != 1 || y_scale.numel() != 1 || y_zp.numel() != 1)
    fail(c.node, "x_scale, y_scale and y_zero_point must be per-tensor");
  if (w_scale.numel() == 1) w_scale = w_scale.reshape({});
  else if (w_scale.numel() == w.size(0)) w_scale = w_scale.reshape(per_channel);
  else fail(c.node, fmt::format("w_scale must be per-tensor or of {} values", w.size(0)));
  return one(requantize(acc, x_scale.reshape({}) * w_scale / y_scale.reshape({}), y_zp.reshape({})));
}


// ---------------------------------------------------------------------------------------------
// Sampling and detection

std::vector<at::Tensor> grid_sample(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &grid = c.in(1);
  if (x.dim() != 4 || grid.dim() != 4 || grid.size(3) != 2 || grid.size(0) != x.size(0))
    fail(c.node, "expects X [N, C, H, W] and grid [N, H_out, W_out, 2]");
  const std::string mode = c.node.attr_string("mode", "bilinear");
  const std::string padding = c.node.attr_string("padding_mode", "zeros");
  const int64_t m = mode == "bilinear" ? 0 : mode == "nearest" ? 1 : mode == "bicubic" ? 2 : -1;
  const int64_t p = padding == "zeros" ? 0 : padding == "border" ? 1 : padding == "reflection" ? 2 : -1;
  if (m < 0) fail(c.node, fmt::format("mode '{}' is not supported", mode));
  if (p < 0) fail(c.node, fmt::format("padding_mode '{}' is not supported", padding));
  // ONNX GridSample (opset 16) is defined after torch.nn.functional.grid_sample.
  return one(at::grid_sampler(x, grid.to(x.scalar_type()), m, p, c.node.attr_int("align_corners", 0) != 0));
}

// RoiAlign as onnxruntime computes it (and torchvision for avg): per output bin, a grid of
// bilinear samples averaged (avg) or the maximum of the weighted corner values (max, ORT's rule).
std::vector<at::Tensor> roi_align(const KernelContext& c) {
  const Node& node = c.node;
  const at::Tensor x = c.in(0).to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor rois = c.in(1).to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor batch = c.in(2).to(at::kCPU, at::kLong).contiguous();
  if (x.dim() != 4) fail(node, "X must be [N, C, H, W]");
  if (rois.dim() != 2 || rois.size(1) != 4 || batch.dim() != 1 || batch.size(0) != rois.size(0))
    fail(node, "rois must be [num_rois, 4] with one batch index each");
  const std::string mode = node.attr_string("mode", "avg");
  if (mode != "avg" && mode != "max") fail(node, fmt::format("mode '{}' is not supported", mode));
  const bool avg = mode == "avg";
  const std::string ctm = node.attr_string("coordinate_transformation_mode", c.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    fail(node, fmt::format("coordinate_transformation_mode '{}' is not supported", ctm));
  const bool half_pixel = ctm == "half_pixel";
  const int64_t ph_n = node.attr_int("output_height", 1), pw_n = node.attr_int("output_width", 1);
  const int64_t ratio = node.attr_int("sampling_ratio", 0);
  const double scale = node.attr_float("spatial_scale", 1.0f);
  const int64_t n_rois = rois.size(0), ch = x.size(1), height = x.size(2), width = x.size(3);
  at::Tensor y = at::zeros({n_rois, ch, ph_n, pw_n}, at::kFloat);
  const float* xd = x.data_ptr<float>();
  const float* rd = rois.data_ptr<float>();
  const int64_t* bd = batch.data_ptr<int64_t>();
  float* yd = y.data_ptr<float>();
  struct Sample { int64_t pos[4]; float w[4]; };
  for (int64_t r = 0; r < n_rois; ++r) {
    const int64_t b = bd[r];
    if (b < 0 || b >= x.size(0)) fail(node, fmt::format("batch index {} is out of range", b));
    const float offset = half_pixel ? 0.5f : 0.0f;
    const float sw = rd[4 * r] * static_cast<float>(scale) - offset, sh = rd[4 * r + 1] * static_cast<float>(scale) - offset;
    const float ew = rd[4 * r + 2] * static_cast<float>(scale) - offset, eh = rd[4 * r + 3] * static_cast<float>(scale) - offset;
    float rw = ew - sw, rh = eh - sh;
    if (!half_pixel) rw = std::max(rw, 1.0f), rh = std::max(rh, 1.0f);
    const float bin_h = rh / static_cast<float>(ph_n), bin_w = rw / static_cast<float>(pw_n);
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / static_cast<float>(ph_n)));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / static_cast<float>(pw_n)));
    const float count = static_cast<float>(std::max<int64_t>(gh * gw, 1));
    for (int64_t ph = 0; ph < ph_n; ++ph)
      for (int64_t pw = 0; pw < pw_n; ++pw) {
        std::vector<Sample> samples;
        for (int64_t iy = 0; iy < gh; ++iy) {
          const float yy = sh + ph * bin_h + (iy + 0.5f) * bin_h / static_cast<float>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            float xx = sw + pw * bin_w + (ix + 0.5f) * bin_w / static_cast<float>(gw), yv = yy;
            Sample smp{{0, 0, 0, 0}, {0, 0, 0, 0}};
            if (!(yv < -1.0f || yv > height || xx < -1.0f || xx > width)) {
              yv = std::max(yv, 0.0f), xx = std::max(xx, 0.0f);
              int64_t yl = static_cast<int64_t>(yv), xl = static_cast<int64_t>(xx), yh, xh;
              if (yl >= height - 1) yh = yl = height - 1, yv = static_cast<float>(yl);
              else yh = yl + 1;
              if (xl >= width - 1) xh = xl = width - 1, xx = static_cast<float>(xl);
              else xh = xl + 1;
              const float ly = yv - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
              smp = Sample{{yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh},
                           {hy * hx, hy * lx, ly * hx, ly * lx}};
            }
            samples.push_back(smp);
          }
        }
        for (int64_t k = 0; k < ch; ++k) {
          const float* plane = xd + (b * ch + k) * height * width;
          float acc = 0;
          bool first = true;
          for (const Sample& smp : samples) {
            if (avg) {
              for (int q = 0; q < 4; ++q) acc += smp.w[q] * plane[smp.pos[q]];
            } else {
              float v = smp.w[0] * plane[smp.pos[0]];
              for (int q = 1; q < 4; ++q) v = std::max(v, smp.w[q] * plane[smp.pos[q]]);
              acc = first ? v : std::max(acc, v);
              first = false;
            }
          }
          yd[((r * ch + k) * ph_n + ph) * pw_n + pw] = avg ? acc / count : acc;
        }
      }
  }
  return one(y.to(c.in(0).device(), c.in(0).scalar_type()));
}

// NonMaxSuppression as onnxruntime runs it: per batch and class, candidates with a score above
// score_threshold in descending score order (ties: lower box index first); a candidate is kept
// unless its IoU with a kept box exceeds iou_threshold; at most max_output_boxes_per_class each.
std::vector<at::Tensor> non_max_suppression(const KernelContext& c) {
  const Node& node = c.node;
  const at::Tensor boxes = c.in(0).to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor scores = c.in(1).to(at::kCPU, at::kFloat).contiguous();
  if (boxes.dim() != 3 || boxes.size(2) != 4 || scores.dim() != 3 || scores.size(0) != boxes.size(0) ||
      scores.size(2) != boxes.size(1))
    fail(node, "expects boxes [B, n, 4] and scores [B, C, n]");
  const int64_t max_out = c.has(2) && c.in(2).numel() > 0 ? c.in(2).reshape(-1)[0].item<int64_t>() : 0;
  const float iou_threshold = c.has(3) && c.in(3).numel() > 0 ? c.in(3).reshape(-1)[0].item<float>() : 0.0f;
  const bool has_score_threshold = c.has(4) && c.in(4).numel() > 0;
  const float score_threshold = has_score_threshold ? c.in(4).reshape(-1)[0].item<float>() : 0.0f;
  const bool center = node.attr_int("center_point_box", 0) != 0;
  const int64_t nb = boxes.size(0), nc = scores.size(1), n = boxes.size(1);
  const float* bd = boxes.data_ptr<float>();
  const float* sd = scores.data_ptr<float>();
  // Box i of batch b as [x_min, y_min, x_max, y_max].
  auto corners = [&](int64_t b, int64_t i) {
    const float* p = bd + (b * n + i) * 4;
    std::array<float, 4> r{};
    if (center) {
      r = {p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2};
    } else {  // [y1, x1, y2, x2], either diagonal
      r = {std::min(p[1], p[3]), std::min(p[0], p[2]), std::max(p[1], p[3]), std::max(p[0], p[2])};
    }
    return r;
  };
  auto suppresses = [&](const std::array<float, 4>& a, const std::array<float, 4>& b) {
    const float iw = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
    const float ih = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
    const float inter = iw * ih;
    if (inter <= 0) return false;
    const float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    const float uni = area_a + area_b - inter;
    if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
    return inter / uni > iou_threshold;
  };
  std::vector<int64_t> out;
  for (int64_t b = 0; b < nb && max_out > 0; ++b)
    for (int64_t k = 0; k < nc; ++k) {
      const float* s = sd + (b * nc + k) * n;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < n; ++i)
        if (!has_score_threshold || s[i] > score_threshold) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t l, int64_t r) { return s[l] > s[r]; });
      std::vector<std::array<float, 4>> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        const auto box = corners(b, i);
        bool drop = false;
        for (const auto& other : kept) drop = drop || suppresses(box, other);
        if (drop) continue;
        kept.push_back(box);
        out.insert(out.end(), {b, k, i});
      }
    }
  return one(at::tensor(out, at::kLong).reshape({-1, 3}).to(c.in(0).device()));
}

// ---------------------------------------------------------------------------------------------
// Signal processing (opset 17): DFT, STFT, MelWeightMatrix. A signal's last dimension is 1 (real)
// or 2 (real, imaginary); outputs always end in 2. The windows are in shape.cpp.

at::Tensor as_complex(const KernelContext& c, const at::Tensor& x) {
  if (x.dim() < 2 || (x.size(-1) != 1 && x.size(-1) != 2))
    fail(c.node, fmt::format("the signal's last dimension must be 1 (real) or 2 (complex), got shape [{}]", fmt::join(x.sizes(), ",")));
  // Transformed in double, returned in the input's type: a float32 FFT leaves ~1e-5 of rounding
  // where the exact spectrum is 0 (ONNX's reference, numpy, computes in double).
  const at::Tensor f = x.to(at::kDouble);
  if (x.size(-1) == 1) return at::complex(f.select(-1, 0), at::zeros_like(f.select(-1, 0)));
  return at::view_as_complex(f.contiguous());
}

at::Tensor from_complex(const at::Tensor& z, at::ScalarType type) { return at::view_as_real(z.contiguous()).to(type); }

// An optional scalar input, or `fallback` when it is omitted or empty.
int64_t optional_scalar_int(const KernelContext& c, size_t i, const char* what, int64_t fallback) {
  return c.has(i) && c.in(i).numel() > 0 ? scalar_int(c, i, what) : fallback;
}

// y[k] = sum_n x[n] e^(-2 pi i k n / N) along `axis` (inverse: e^(+...) / N), x zero-padded or
// truncated to N = dft_length; onesided keeps k <= N/2 (the rest mirror a real signal's).
std::vector<at::Tensor> dft(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const at::Tensor z = as_complex(c, x);
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 1), x.dim());
  if (axis == x.dim() - 1) fail(c.node, "axis must not be the last (real/imaginary) dimension");
  const int64_t n = optional_scalar_int(c, 1, "dft_length", z.size(axis));
  if (n < 1) fail(c.node, fmt::format("dft_length must be positive, got {}", n));
  const bool inverse = c.node.attr_int("inverse", 0) != 0, onesided = c.node.attr_int("onesided", 0) != 0;
  if (inverse && onesided) fail(c.node, "an inverse onesided DFT is not supported");
  at::Tensor y = inverse ? at::fft_ifft(z, n, axis) : at::fft_fft(z, n, axis);
  if (onesided) y = y.narrow(axis, 0, n / 2 + 1);
  return one(from_complex(y, x.scalar_type()));
}

// signal [B, L, 1|2] -> [B, frames, bins, 2]: frame f is signal[f*step, f*step + length) times the
// window, transformed; frames = 1 + (L - length) / step; bins = length / 2 + 1 when onesided.
std::vector<at::Tensor> stft(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  if (x.dim() != 3) fail(c.node, fmt::format("the signal must be [batch, length, 1 or 2], got rank {}", x.dim()));
  const at::Tensor z = as_complex(c, x);
  const int64_t step = scalar_int(c, 1, "frame_step");
  const at::Tensor window = c.has(2) && c.in(2).numel() > 0 ? c.in(2).reshape({-1}) : at::Tensor();
  const int64_t length = optional_scalar_int(c, 3, "frame_length", window.defined() ? window.numel() : -1);
  if (length < 1) fail(c.node, "needs a window or a frame_length");
  if (window.defined() && window.numel() != length)
    fail(c.node, fmt::format("window of {} points for frames of {}", window.numel(), length));
  if (step < 1) fail(c.node, fmt::format("frame_step must be positive, got {}", step));
  if (length > z.size(1)) fail(c.node, fmt::format("frames of {} exceed the signal's {} samples", length, z.size(1)));
  at::Tensor frames = z.unfold(1, length, step);   // [B, frames, length]
  if (window.defined()) frames = frames * window.to(at::kDouble);
  at::Tensor y = at::fft_fft(frames, c10::nullopt, -1);
  if (c.node.attr_int("onesided", 1) != 0) y = y.narrow(-1, 0, length / 2 + 1);
  return one(from_complex(y, x.scalar_type()));
}

// [dft_length/2 + 1, num_mel_bins] triangular filters, as ONNX's reference computes them:
// num_mel_bins + 2 points equally spaced on the mel scale (mel = 2595 log10(1 + hz/700), step =
// span / (num_mel_bins + 2)), each mapped to bin floor((dft_length + 1) * hz / sample_rate);
// filter i rises from point i to point i+1 and falls to point i+2.
std::vector<at::Tensor> mel_weight_matrix(const KernelContext& c) {
  const int64_t mels = scalar_int(c, 0, "num_mel_bins"), dft_length = scalar_int(c, 1, "dft_length");
  const int64_t rate = scalar_int(c, 2, "sample_rate");
  const double lo = c.in(3).reshape({-1})[0].item<double>(), hi = c.in(4).reshape({-1})[0].item<double>();
  if (mels < 1 || dft_length < 1 || rate < 1)
    fail(c.node, fmt::format("num_mel_bins, dft_length and sample_rate must be positive, got {}, {}, {}", mels, dft_length, rate));
  if (lo < 0 || hi <= lo) fail(c.node, fmt::format("needs 0 <= lower_edge_hertz < upper_edge_hertz, got {} and {}", lo, hi));
  const int64_t bins = dft_length / 2 + 1;
  auto mel = [](double hz) { return 2595 * std::log10(1 + hz / 700); };
  const double step = (mel(hi) - mel(lo)) / static_cast<double>(mels + 2);
  std::vector<int64_t> point(static_cast<size_t>(mels + 2));
  for (int64_t k = 0; k < mels + 2; ++k) {
    const double hz = 700 * (std::pow(10.0, (static_cast<double>(k) * step + mel(lo)) / 2595) - 1);
    point[k] = static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate)));
  }
  at::Tensor w = at::zeros({bins, mels}, at::kDouble);
  auto a = w.accessor<double, 2>();
  auto set = [&](int64_t j, int64_t i, double v) {
    if (j >= 0 && j < bins) a[j][i] = v;
  };
  for (int64_t i = 0; i < mels; ++i) {
    const int64_t left = point[i], center = point[i + 1], right = point[i + 2];
    if (center == left) set(center, i, 1);
    for (int64_t j = left; center > left && j <= center; ++j) set(j, i, double(j - left) / double(center - left));
    for (int64_t j = center; right > center && j < right; ++j) set(j, i, double(right - j) / double(right - center));
  }
  return one(w.to(scalar_type_from_onnx(static_cast<int32_t>(c.node.attr_int("output_datatype", 1)), "output_datatype")));
}

}  // namespace

void register_extra(KernelTable& t) {
  t["NegativeLogLikelihoodLoss"] = nll;
  t["SoftmaxCrossEntropyLoss"] = softmax_cross_entropy;

  t["Trilu"] = trilu;
  t["CumSum"] = cumsum;
  t["OneHot"] = one_hot;
  t["EyeLike"] = eye_like;
  t["DepthToSpace"] = depth_to_space;
  t["SpaceToDepth"] = space_to_depth;
  t["ScatterElements"] = scatter_elements;
  t["Scatter"] = scatter_elements;  // opset 9-10 name of ScatterElements (no reduction)
  t["ScatterND"] = scatter_nd;
  t["GatherND"] = gather_nd;
  t["Compress"] = compress;
  t["Unique"] = unique;
  t["MaxUnpool"] = max_unpool;

  t["Det"] = [](const KernelContext& c) { return one(at::linalg_det(c.in(0))); };
  t["Asinh"] = [](const KernelContext& c) { return one(at::asinh(c.in(0))); };
  t["Acosh"] = [](const KernelContext& c) { return one(at::acosh(c.in(0))); };
  t["Atanh"] = [](const KernelContext& c) { return one(at::atanh(c.in(0))); };
  t["IsInf"] = is_inf;
  t["Shrink"] = shrink;
  t["BitShift"] = bit_shift;
  t["DFT"] = dft;
  t["STFT"] = stft;
  t["MelWeightMatrix"] = mel_weight_matrix;
  t["MeanVarianceNormalization"] = mean_variance_normalization;

  t["DynamicQuantizeLinear"] = dynamic_quantize_linear;
  t["MatMulInteger"] = matmul_integer;
  t["ConvInteger"] = conv_integer;
  t["QLinearMatMul"] = qlinear_matmul;
  t["QLinearConv"] = qlinear_conv;

  t["GridSample"] = grid_sample;
  t["RoiAlign"] = roi_align;
  t["NonMaxSuppression"] = non_max_suppression;
}

}  // namespace edgepack::ops
