// Neural-network kernels: convolution, pooling, normalization, Gemm/MatMul, the softmax family,
// LRN, Dropout and Resize. Conv and Gemm go straight to at::convolution / at::addmm so that
// LibTorch picks its fast (oneDNN) paths; padding that ATen cannot express (asymmetric, or wider
// than half a window) is applied explicitly with at::constant_pad_nd first.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/ops/common.h"
#include "core/ops/ops.h"

namespace edgepack::ops {
namespace {

// Kernel, strides, dilations and resolved ONNX pads of a Conv or pooling node over the
// spatial dims of x (all but the first two).
struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;
  size_t n() const { return kernel.size(); }
  bool symmetric() const {
    for (size_t i = 0; i < n(); ++i)
      if (pads[i] != pads[i + n()]) return false;
    return true;
  }
  std::vector<int64_t> begin_pads() const { return {pads.begin(), pads.begin() + n()}; }
};

Window window(const Node& node, const at::Tensor& x, std::vector<int64_t> kernel) {
  if (x.dim() < 3) fail(node, fmt::format("input must have rank >= 3, got {}", x.dim()));
  const size_t n = static_cast<size_t>(x.dim() - 2);
  if (kernel.size() != n) fail(node, fmt::format("kernel has {} spatial dims, input has {}", kernel.size(), n));
  Window w{kernel, node.attr_ints("strides", std::vector<int64_t>(n, 1)),
           node.attr_ints("dilations", std::vector<int64_t>(n, 1)), {}};
  if (w.strides.size() != n || w.dilations.size() != n)
    fail(node, fmt::format("strides/dilations must have {} values", n));
  std::vector<int64_t> extent(n);
  for (size_t i = 0; i < n; ++i) extent[i] = (kernel[i] - 1) * w.dilations[i] + 1;
  w.pads = conv_pads(node, x.sizes().slice(2), extent, w.strides);
  return w;
}

std::vector<at::Tensor> conv(const KernelContext& c) {
  const at::Tensor &x = c.in(0), &weight = c.in(1);
  if (weight.dim() != x.dim()) fail(c.node, fmt::format("weight rank {} differs from input rank {}", weight.dim(), x.dim()));
  Window w = window(c.node, x, weight.sizes().slice(2).vec());
  at::Tensor input = x;
  std::vector<int64_t> padding = w.begin_pads();
  if (!w.symmetric()) {
    input = at::constant_pad_nd(x, torch_pad_order(w.pads), 0);
    padding.assign(w.n(), 0);
  }
  at::Tensor bias = c.has(2) ? c.in(2) : at::Tensor();
  return one(at::convolution(input, weight, bias, w.strides, padding, w.dilations, false,
                             std::vector<int64_t>(w.n(), 0), c.node.attr_int("group", 1)));
}

std::vector<at::Tensor> conv_transpose(const KernelContext& c) {
  const Node& node = c.node;
  const at::Tensor &x = c.in(0), &weight = c.in(1);
  if (x.dim() < 3 || weight.dim() != x.dim()) fail(node, "input and weight must have the same rank >= 3");
  const size_t n = static_cast<size_t>(x.dim() - 2);
  auto strides = node.attr_ints("strides", std::vector<int64_t>(n, 1));
  auto dilations = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  auto out_pad = node.attr_ints("output_padding", std::vector<int64_t>(n, 0));
  if (strides.size() != n || dilations.size() != n || out_pad.size() != n)
    fail(node, fmt::format("strides/dilations/output_padding must have {} values", n));
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  // `full` is the output size without padding; pads crop it, output_padding extends the end.
  std::vector<int64_t> full(n), pb(n, 0), pe(n, 0);
  for (size_t i = 0; i < n; ++i)
    full[i] = strides[i] * (x.size(2 + i) - 1) + (weight.size(2 + i) - 1) * dilations[i] + 1;
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  if (out_shape.size() == n + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (out_shape.empty() && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER"))
    for (size_t i = 0; i < n; ++i) out_shape.push_back(x.size(2 + i) * strides[i]);
  if (!out_shape.empty()) {
    if (out_shape.size() != n) fail(node, fmt::format("output_shape must have {} values", n));
    for (size_t i = 0; i < n; ++i) {
      const int64_t total = full[i] + out_pad[i] - out_shape[i];
      // As the ONNX spec states: the odd pixel is cropped at the end for SAME_UPPER only.
      // Floor division (as in the spec's Python) keeps a negative total, i.e. growth, at the end.
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
      pb[i] = auto_pad == "SAME_UPPER" ? half : total - half;
      pe[i] = total - pb[i];
    }
  } else if (auto_pad == "NOTSET") {
    auto pads = node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
    if (pads.size() != 2 * n) fail(node, fmt::format("pads must have {} values", 2 * n));
    pb.assign(pads.begin(), pads.begin() + n);
    pe.assign(pads.begin() + n, pads.end());
  } else if (auto_pad != "VALID") {
    fail(node, fmt::format("auto_pad '{}' is not supported", auto_pad));
  }
  const int64_t group = node.attr_int("group", 1);
  at::Tensor bias = c.has(2) ? c.in(2) : at::Tensor();
  bool direct = pb == pe;
  for (size_t i = 0; i < n; ++i)
    direct = direct && pb[i] >= 0 && out_pad[i] < std::max(strides[i], dilations[i]);
  if (direct) return one(at::convolution(x, weight, bias, strides, pb, dilations, true, out_pad, group));
  // General case: full output, then crop/extend each side; the bias goes on last so the
  // output_padding rows receive it too.
  at::Tensor y = at::convolution(x, weight, at::Tensor(), strides, std::vector<int64_t>(n, 0), dilations, true,
                                 std::vector<int64_t>(n, 0), group);
  std::vector<int64_t> onnx_pads(2 * n);
  for (size_t i = 0; i < n; ++i) onnx_pads[i] = -pb[i], onnx_pads[i + n] = out_pad[i] - pe[i];
  y = at::constant_pad_nd(y, torch_pad_order(onnx_pads), 0);
  if (bias.defined()) {
    std::vector<int64_t> shape(y.dim(), 1);
    shape[1] = bias.numel();
    y = y + bias.reshape(shape);
  }
  return one(y);
}

std::vector<int64_t> kernel_shape(const Node& node) {
  auto k = node.attr("kernel_shape").ints;
  if (k.empty()) fail(node, "kernel_shape is empty");
  return k;
}

std::vector<at::Tensor> max_pool_float(const KernelContext& c, const at::Tensor& x);

// ATen pools floats only; an 8- or 16-bit integer input is pooled in float (every value exact)
// and cast back. Padding never wins a max, so -inf padding stays out of the result.
std::vector<at::Tensor> max_pool(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  if (!at::isIntegralType(x.scalar_type(), false)) return max_pool_float(c, x);
  if (x.element_size() > 2) fail(c.node, fmt::format("MaxPool on {} is not supported", c10::toString(x.scalar_type())));
  std::vector<at::Tensor> r = max_pool_float(c, x.to(at::kFloat));
  r[0] = r[0].to(x.scalar_type());
  return r;
}

std::vector<at::Tensor> max_pool_float(const KernelContext& c, const at::Tensor& x) {
  Window w = window(c.node, x, kernel_shape(c.node));
  const bool ceil = c.node.attr_int("ceil_mode", 0) != 0;
  const bool want_indices = c.node.outputs.size() > 1 && !c.node.outputs[1].empty();
  const bool column_major = c.node.attr_int("storage_order", 0) != 0;
  if (want_indices && column_major && x.dim() != 4)
    fail(c.node, "Indices output with storage_order=1 is supported for 2-D pooling only");
  // ATen takes symmetric padding of at most half the (dilated) window.
  bool native = w.symmetric();
  for (size_t i = 0; i < w.n(); ++i) native = native && 2 * w.pads[i] <= (w.kernel[i] - 1) * w.dilations[i] + 1;
  at::Tensor input = x;
  std::vector<int64_t> padding = w.begin_pads();
  if (!native) {
    if (want_indices) fail(c.node, "Indices output with asymmetric or oversized pads is not supported");
    input = at::constant_pad_nd(x, torch_pad_order(w.pads), -std::numeric_limits<double>::infinity());
    padding.assign(w.n(), 0);
  }
  if (w.n() > 3) fail(c.node, fmt::format("{}-D pooling is not supported", w.n()));
  if (!want_indices) {
    if (w.n() == 1) return one(at::max_pool1d(input, w.kernel, w.strides, padding, w.dilations, ceil));
    if (w.n() == 2) return one(at::max_pool2d(input, w.kernel, w.strides, padding, w.dilations, ceil));
    return one(at::max_pool3d(input, w.kernel, w.strides, padding, w.dilations, ceil));
  }
  std::tuple<at::Tensor, at::Tensor> r;
  if (w.n() == 1) r = at::max_pool1d_with_indices(input, w.kernel, w.strides, padding, w.dilations, ceil);
  else if (w.n() == 2) r = at::max_pool2d_with_indices(input, w.kernel, w.strides, padding, w.dilations, ceil);
  else r = at::max_pool3d_with_indices(input, w.kernel, w.strides, padding, w.dilations, ceil);
  // ATen indexes within each (n, c) plane; ONNX indexes the whole NC... tensor.
  at::Tensor& idx = std::get<1>(r);
  // storage_order=1 numbers each plane column by column: (h, w) is w * H + h.
  if (column_major) idx = (idx % x.size(3)) * x.size(2) + idx.div(x.size(3), "floor");
  const int64_t plane = c10::multiply_integers(x.sizes().slice(2)), planes = x.size(0) * x.size(1);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0), shape[1] = x.size(1);
  idx = idx + (at::arange(planes, idx.options()) * plane).reshape(shape);
  return {std::get<0>(r), idx};
}

at::Tensor avg_pool(const at::Tensor& x, const Window& w, at::IntArrayRef padding, bool ceil, bool include_pad) {
  if (w.n() == 1) return at::avg_pool1d(x, w.kernel, w.strides, padding, ceil, include_pad);
  if (w.n() == 2) return at::avg_pool2d(x, w.kernel, w.strides, padding, ceil, include_pad);
  return at::avg_pool3d(x, w.kernel, w.strides, padding, ceil, include_pad);
}

std::vector<at::Tensor> average_pool(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  Window w = window(c.node, x, kernel_shape(c.node));
  for (int64_t d : w.dilations)
    if (d != 1) fail(c.node, "dilations other than 1 are not supported");
  if (w.n() > 3) fail(c.node, fmt::format("{}-D pooling is not supported", w.n()));
  const bool ceil = c.node.attr_int("ceil_mode", 0) != 0;
  const bool include_pad = c.node.attr_int("count_include_pad", 0) != 0;
  bool native = w.symmetric();
  for (size_t i = 0; i < w.n(); ++i) native = native && 2 * w.pads[i] <= w.kernel[i];
  if (native) return one(avg_pool(x, w, w.begin_pads(), ceil, include_pad));
  const std::vector<int64_t> pads = torch_pad_order(w.pads), zero(w.n(), 0);
  at::Tensor y = avg_pool(at::constant_pad_nd(x, pads, 0), w, zero, ceil, true);
  if (include_pad) return one(y);
  // Excluding the padding: divide by the pooled share of real (unpadded) positions.
  std::vector<int64_t> mask_shape(x.dim(), 1);
  for (size_t i = 0; i < w.n(); ++i) mask_shape[2 + i] = x.size(2 + i);
  at::Tensor mask = at::constant_pad_nd(at::ones(mask_shape, x.options()), pads, 0);
  return one(y / avg_pool(mask, w, zero, ceil, true));
}

std::vector<int64_t> spatial_dims(const at::Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

std::vector<at::Tensor> batch_norm(const KernelContext& c) {
  const at::Tensor &mean = c.in(3), &var = c.in(4);
  if (c.node.attr_int("training_mode", 0) != 0) {
    // Opset 14+ training form: normalise with the batch's statistics (population variance, over
    // every axis but 1) and return the running statistics moved towards them by 1 - momentum.
    const at::Tensor& x = c.in(0);
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (d != 1) axes.push_back(d);
    const at::Tensor batch_mean = x.mean(axes), batch_var = x.var(axes, /*unbiased=*/false);
    const double momentum = c.node.attr_float("momentum", 0.9f);
    at::Tensor y = at::batch_norm(x, c.in(1), c.in(2), batch_mean, batch_var, false, 0.0,
                                  c.node.attr_float("epsilon", 1e-5f), true);
    return {y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)};
  }
  at::Tensor y = at::batch_norm(c.in(0), c.in(1), c.in(2), mean, var, false, 0.0,
                                c.node.attr_float("epsilon", 1e-5f), true);
  // Inference form: any extra outputs (old opsets list up to four) echo the running statistics.
  return {y, mean, var, mean, var};
}

std::vector<at::Tensor> layer_norm(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", -1), x.dim());
  const at::IntArrayRef shape = x.sizes().slice(axis);
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  const at::Tensor& scale = c.in(1);
  at::Tensor bias = c.has(2) ? c.in(2) : at::Tensor();
  // ATen wants scale/bias of exactly the normalized shape; ONNX lets them broadcast.
  if (scale.sizes() == shape && (!bias.defined() || bias.sizes() == shape)) {
    auto [y, mean, rstd] = at::native_layer_norm(x, shape, scale, bias, eps);
    return {y, mean, rstd};
  }
  auto [y, mean, rstd] = at::native_layer_norm(x, shape, at::Tensor(), at::Tensor(), eps);
  y = y * scale;
  if (bias.defined()) y = y + bias;
  return {y, mean, rstd};
}

std::vector<at::Tensor> lrn(const KernelContext& c) {
  const at::Tensor& x = c.in(0);
  if (x.dim() < 2) fail(c.node, "input must have rank >= 2");
  const int64_t size = c.node.attr("size").i;
  if (size < 1) fail(c.node, "size must be positive");
  const double alpha = c.node.attr_float("alpha", 1e-4f), beta = c.node.attr_float("beta", 0.75f),
               bias = c.node.attr_float("bias", 1.0f);
  // The channel window [c - floor((size-1)/2), c + ceil((size-1)/2)] as an average pool over a
  // zero-padded channel axis: alpha/size * square_sum == alpha * mean.
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  at::Tensor sq = (x * x).reshape({x.size(0), 1, x.size(1), -1});
  sq = at::constant_pad_nd(sq, {0, 0, lo, hi}, 0);
  at::Tensor mean = at::avg_pool2d(sq, {size, 1}, {1, 1}).reshape(x.sizes());
  return one(x / at::pow(mean * alpha + bias, beta));
}

std::vector<at::Tensor> gemm(const KernelContext& c) {
  at::Tensor a = c.in(0), b = c.in(1);
  if (a.dim() != 2 || b.dim() != 2) fail(c.node, "A and B must be 2-D");
  if (c.node.attr_int("transA", 0)) a = a.t();
  if (c.node.attr_int("transB", 0)) b = b.t();
  const double alpha = c.node.attr_float("alpha", 1.0f), beta = c.node.attr_float("beta", 1.0f);
  if (a.size(0) == 1) {
    // Batch 1 is a matrix-vector product: BLAS gemv streams the weight once and is 3-6x
    // faster than gemm with M=1 (measured on AlexNet's fc6).
    at::Tensor y = at::mv(b.t(), a[0]).unsqueeze(0);
    if (alpha != 1) y = y * alpha;
    if (c.has(2) && beta != 0) y = y + (beta == 1 ? c.in(2) : c.in(2) * beta);
    return one(y);
  }
  if (c.has(2) && beta != 0) return one(at::addmm(c.in(2), a, b, beta, alpha));
  at::Tensor y = at::mm(a, b);
  return one(alpha == 1 ? y : y * alpha);
}

// Softmax, LogSoftmax, Hardmax: one axis since opset 13; before, the input is viewed as 2-D
// [prod(dims < axis), prod(dims >= axis)] (default axis 1).
template <typename F>
Kernel softmax_family(F f) {
  return [f](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    if (c.opset >= 13) return one(f(x, norm_axis(c.node, c.node.attr_int("axis", -1), x.dim())));
    const int64_t axis = norm_axis(c.node, c.node.attr_int("axis", 1), x.dim());
    const int64_t outer = c10::multiply_integers(x.sizes().slice(0, axis));
    return one(f(x.reshape({outer, x.numel() / std::max<int64_t>(outer, 1)}), 1).reshape(x.sizes()));
  };
}

at::Tensor hardmax(const at::Tensor& x, int64_t axis) {
  return at::zeros_like(x).scatter(axis, x.argmax(axis, true), 1);
}

// Resize source coordinate of output index i along one axis. Computed in float like
// onnxruntime: in double, nearest-mode ties (x.5) land on the other side of the rounding.
// align_corners and pytorch_half_pixel use the resized length in * scale, not the (floored)
// output size, as ONNX's reference does: downsampling 4 by 0.6 maps 2 outputs as if 2.4 long.
float source_coord(const std::string& mode, int64_t i, float scale, int64_t in, int64_t out) {
  const auto x = static_cast<float>(i);
  const float resized = scale * static_cast<float>(in);
  if (mode == "half_pixel") return (x + 0.5f) / scale - 0.5f;
  if (mode == "pytorch_half_pixel") return resized > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "align_corners") return resized == 1 ? 0.0f : x * static_cast<float>(in - 1) / (resized - 1);
  if (mode == "asymmetric") return x / scale;
  if (mode == "tf_half_pixel_for_nn") return (x + 0.5f) / scale;
  // half_pixel_symmetric (opset 19)
  const float adjust = static_cast<float>(out) / (scale * static_cast<float>(in));
  const float offset = static_cast<float>(in) / 2 * (1 - adjust);
  return offset + (x + 0.5f) / scale - 0.5f;
}

int64_t nearest_index(const std::string& mode, float x) {
  if (mode == "round_prefer_floor") return static_cast<int64_t>(x == std::floor(x) + 0.5f ? std::floor(x) : std::round(x));
  if (mode == "round_prefer_ceil") return static_cast<int64_t>(std::round(x));
  if (mode == "floor") return static_cast<int64_t>(std::floor(x));
  return static_cast<int64_t>(std::ceil(x));
}

// Cubic convolution (Keys) along axis d: output i reads the four inputs around src[i] with
// weights from the kernel with coefficient A (-0.75 like onnxruntime and TensorFlow, -0.5 Keys),
// the edges repeated; with exclude_outside the taps outside the input get weight 0 and the rest
// are renormalised. Done as one [n_out, n_in] matrix product on the axis.
at::Tensor resize_cubic_axis(const at::Tensor& y, int64_t d, const std::vector<float>& src, float a, bool exclude_outside) {
  const int64_t in = y.size(d), n = static_cast<int64_t>(src.size());
  auto kernel = [a](double t) {   // t = |distance| in [0, 2)
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  };
  std::vector<double> w(static_cast<size_t>(n * in), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double x = src[i], base = std::floor(x), t = x - base;
    double taps[4], sum = 0;
    for (int k = 0; k < 4; ++k) {
      const int64_t j = static_cast<int64_t>(base) - 1 + k;
      taps[k] = kernel(std::abs(t - (k - 1)));
      if (exclude_outside && (j < 0 || j >= in)) taps[k] = 0;
      sum += taps[k];
    }
    for (int k = 0; k < 4; ++k) {
      const int64_t j = std::clamp<int64_t>(static_cast<int64_t>(base) - 1 + k, 0, in - 1);
      w[i * in + j] += exclude_outside && sum != 0 ? taps[k] / sum : taps[k];
    }
  }
  const at::Tensor weights = at::tensor(w, at::kDouble).reshape({n, in}).to(y.options());
  return at::matmul(y.movedim(d, -1), weights.t()).movedim(-1, d);
}

// Resize, separably: one gather (nearest), two gathers and a blend (linear) or a 4-tap matrix
// (cubic) per resized axis.
std::vector<at::Tensor> resize(const KernelContext& c) {
  const Node& node = c.node;
  const at::Tensor& x = c.in(0);
  const int64_t rank = x.dim();
  const std::string mode = node.attr_string("mode", "nearest");
  const std::string coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = node.attr_string("nearest_mode", "round_prefer_floor");
  if (mode != "nearest" && mode != "linear" && mode != "cubic") fail(node, fmt::format("mode '{}' is not supported", mode));
  static const std::set<std::string> coords = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                               "tf_half_pixel_for_nn", "half_pixel_symmetric", "tf_crop_and_resize"};
  if (!coords.count(coord)) fail(node, fmt::format("coordinate_transformation_mode '{}' is not supported", coord));
  if (!std::set<std::string>{"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}.count(nearest))
    fail(node, fmt::format("nearest_mode '{}' is not supported", nearest));
  if (node.attr_int("antialias", 0) != 0) fail(node, "antialias=1 is not supported");
  if (node.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
    fail(node, "keep_aspect_ratio_policy other than 'stretch' is not supported");

  std::vector<int64_t> axes = node.attr_ints("axes");
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  axes = norm_axes(node, axes, rank);
  std::vector<float> scales(rank, 1.0f);
  std::vector<int64_t> out = x.sizes().vec();
  // Opset 10 has (X, scales); 11+ has (X, roi, scales, sizes) with unused ones empty.
  const size_t scales_at = c.size() == 2 ? 1 : 2;
  if (c.has(3) && c.in(3).numel() > 0) {
    auto sizes = c.ints(3);
    if (sizes.size() != axes.size()) fail(node, fmt::format("sizes has {} values, expected {}", sizes.size(), axes.size()));
    for (size_t k = 0; k < axes.size(); ++k) {
      out[axes[k]] = sizes[k];
      scales[axes[k]] = static_cast<float>(sizes[k]) / static_cast<float>(x.size(axes[k]));
    }
  } else if (c.has(scales_at) && c.in(scales_at).numel() > 0) {
    at::Tensor s = c.in(scales_at).to(at::kCPU, at::kFloat).contiguous();
    if (static_cast<size_t>(s.numel()) != axes.size())
      fail(node, fmt::format("scales has {} values, expected {}", s.numel(), axes.size()));
    for (size_t k = 0; k < axes.size(); ++k) {
      scales[axes[k]] = s.data_ptr<float>()[k];
      out[axes[k]] = static_cast<int64_t>(std::floor(static_cast<float>(x.size(axes[k])) * scales[axes[k]]));
    }
  } else {
    fail(node, "neither scales nor sizes is given");
  }

  // tf_crop_and_resize: roi holds a start and an end per resized axis, in [0, 1] of the input;
  // outputs that land outside the input take extrapolation_value.
  const bool crop = coord == "tf_crop_and_resize";
  std::vector<float> roi_start(rank, 0.f), roi_end(rank, 1.f);
  if (crop) {
    if (!c.has(1) || c.in(1).numel() != static_cast<int64_t>(2 * axes.size()))
      fail(node, "tf_crop_and_resize needs roi with a start and an end per axis");
    const at::Tensor roi = c.in(1).to(at::kCPU, at::kFloat).contiguous();
    for (size_t k = 0; k < axes.size(); ++k)
      roi_start[axes[k]] = roi.data_ptr<float>()[k], roi_end[axes[k]] = roi.data_ptr<float>()[axes.size() + k];
  }
  const float extrapolation = node.attr_float("extrapolation_value", 0.f);

  // One axis: a gather (nearest), two gathers and a blend (linear), or a 4-tap matrix (cubic).
  auto interpolate = [&](const at::Tensor& v, int64_t d, const std::vector<float>& src) {
    const int64_t in = v.size(d), n = static_cast<int64_t>(src.size());
    if (mode == "nearest") {
      std::vector<int64_t> idx(n);
      for (int64_t i = 0; i < n; ++i) idx[i] = std::clamp<int64_t>(nearest_index(nearest, src[i]), 0, in - 1);
      return v.index_select(d, at::tensor(idx, at::kLong).to(v.device()));
    }
    if (mode == "cubic")
      return resize_cubic_axis(v, d, src, node.attr_float("cubic_coeff_a", -0.75f), node.attr_int("exclude_outside", 0) != 0);
    std::vector<int64_t> i0(n), i1(n);
    std::vector<double> frac(n);
    for (int64_t i = 0; i < n; ++i) {
      const double s = std::clamp<double>(src[i], 0.0, static_cast<double>(in - 1));
      i0[i] = static_cast<int64_t>(std::floor(s));
      i1[i] = std::min(i0[i] + 1, in - 1);
      frac[i] = s - i0[i];
    }
    std::vector<int64_t> wshape(v.dim(), 1);
    wshape[d] = n;
    at::Tensor w = at::tensor(frac, at::kDouble).to(v.options()).reshape(wshape);
    at::Tensor a = v.index_select(d, at::tensor(i0, at::kLong).to(v.device()));
    at::Tensor b = v.index_select(d, at::tensor(i1, at::kLong).to(v.device()));
    return a + (b - a) * w;
  };

  at::Tensor y = x;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t in = x.size(d), n = out[d];
    const bool cropped = crop && (roi_start[d] != 0.f || roi_end[d] != 1.f);
    if (n == in && scales[d] == 1.0f && !cropped) continue;
    if (n <= 0 || in <= 0 || scales[d] <= 0) fail(node, "resize to or from an empty axis");
    std::vector<float> src(n);
    std::vector<uint8_t> outside(n, 0);
    for (int64_t i = 0; i < n; ++i) {
      if (crop) {
        const float resized = scales[d] * static_cast<float>(in), span = static_cast<float>(in - 1);
        src[i] = resized > 1 ? roi_start[d] * span + static_cast<float>(i) * (roi_end[d] - roi_start[d]) * span / (resized - 1)
                             : 0.5f * (roi_start[d] + roi_end[d]) * span;
        outside[i] = src[i] < 0 || src[i] > span;
      } else {
        src[i] = source_coord(coord, i, scales[d], in, n);
      }
    }
    y = interpolate(y, d, src);
    if (std::count(outside.begin(), outside.end(), 1)) {
      // An outside row is constant afterwards, so later axes interpolate it to itself.
      std::vector<int64_t> mshape(rank, 1);
      mshape[d] = n;
      const at::Tensor mask = at::tensor(std::vector<int64_t>(outside.begin(), outside.end()), at::kLong).ne(0).reshape(mshape);
      y = at::where(mask, at::scalar_tensor(extrapolation, y.options()), y);
    }
  }
  return one(y);
}

}  // namespace

void register_nn(KernelTable& t) {
  t["Conv"] = conv;
  t["ConvTranspose"] = conv_transpose;
  t["MaxPool"] = max_pool;
  t["AveragePool"] = average_pool;
  t["GlobalAveragePool"] = [](const KernelContext& c) { return one(c.in(0).mean(spatial_dims(c.in(0)), true)); };
  t["GlobalMaxPool"] = [](const KernelContext& c) { return one(c.in(0).amax(spatial_dims(c.in(0)), true)); };
  t["BatchNormalization"] = batch_norm;
  t["InstanceNormalization"] = [](const KernelContext& c) {
    return one(at::instance_norm(c.in(0), c.in(1), c.in(2), at::Tensor(), at::Tensor(), true, 0.0,
                                 c.node.attr_float("epsilon", 1e-5f), false));
  };
  t["LayerNormalization"] = layer_norm;
  t["LRN"] = lrn;
  t["Gemm"] = gemm;
  t["MatMul"] = [](const KernelContext& c) { return one(at::matmul(c.in(0), c.in(1))); };
  t["Einsum"] = [](const KernelContext& c) {
    std::vector<at::Tensor> operands(c.inputs.begin(), c.inputs.end());
    return one(at::einsum(c.node.attr("equation").s, operands));
  };
  t["Softmax"] = softmax_family([](const at::Tensor& x, int64_t axis) { return at::softmax(x, axis); });
  t["LogSoftmax"] = softmax_family([](const at::Tensor& x, int64_t axis) { return at::log_softmax(x, axis); });
  t["Hardmax"] = softmax_family(hardmax);
  // Inference: Dropout is the identity; the optional mask output is all true.
  t["Dropout"] = [](const KernelContext& c) {
    const at::Tensor& x = c.in(0);
    if (c.node.outputs.size() < 2 || c.node.outputs[1].empty()) return one(x);
    return std::vector<at::Tensor>{x, at::ones(x.sizes(), x.options().dtype(at::kBool))};
  };
  t["Resize"] = resize;
}

}  // namespace edgepack::ops
