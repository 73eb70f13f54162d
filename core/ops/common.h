// Helpers shared by the kernel families: error reporting that names the node, numpy-style axis
// normalisation, and reading attribute-or-input operands (ONNX moved several attributes to
// inputs across opsets; kernels accept both forms).
#pragma once
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/executor.h"

namespace edgepack::ops {

// Throws InputError "<node label>: <message>".
[[noreturn]] void fail(const Node& node, const std::string& message);

// Maps a possibly negative axis into [0, rank); InputError naming the node when out of range.
int64_t norm_axis(const Node& node, int64_t axis, int64_t rank);
std::vector<int64_t> norm_axes(const Node& node, std::vector<int64_t> axes, int64_t rank);

// An integer list given as input `index` (newer opsets) or attribute `attr` (older ones);
// nullopt when neither is present.
std::optional<std::vector<int64_t>> ints_input_or_attr(const KernelContext& ctx, size_t index,
                                                       const std::string& attr);

// Spatial padding of Conv/ConvTranspose/pooling in ONNX order [b0, b1, ..., e0, e1, ...],
// resolved from auto_pad (SAME_UPPER/SAME_LOWER/VALID/NOTSET) and the `pads` attribute.
// `kernel` holds effective kernel extents ((k-1)*dilation+1).
std::vector<int64_t> conv_pads(const Node& node, at::IntArrayRef spatial, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides);

// ONNX begin/end pads for the last n dims -> at::constant_pad_nd order (last dim first).
std::vector<int64_t> torch_pad_order(const std::vector<int64_t>& onnx_pads);

inline std::vector<at::Tensor> one(at::Tensor t) { return {std::move(t)}; }

}  // namespace edgepack::ops
