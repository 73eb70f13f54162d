// Detector post-processing: NonMaxSuppression (opset 10/11).
//   For every batch b and class c: boxes with score > score_threshold, by score (highest first,
//   ties by index); a box is kept when its IoU with every box kept before it is <= iou_threshold,
//   until max_output_boxes_per_class are kept (0 or absent: none). Output [k, 3] int64 rows
//   (b, c, box), batch-major, then class, then selection order, as the spec lists them.
// center_point_box 0 reads boxes as two corners in either order ([y1, x1, y2, x2]); 1 as
// [x_center, y_center, width, height]. Data-dependent output size: post-processing runs in
// float, is never quantized, and is not differentiated.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/ops/common.h"
#include "core/ops/ops.h"

namespace edgepack::ops {
namespace {

struct Box {
  float y0, x0, y1, x1;
  float area() const { return std::max(0.f, y1 - y0) * std::max(0.f, x1 - x0); }
};

float iou(const Box& a, const Box& b) {
  const float h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0), w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  if (h <= 0 || w <= 0) return 0;
  const float inter = h * w, uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0;
}

std::vector<at::Tensor> non_max_suppression(const KernelContext& c) {
  const at::Tensor boxes = c.in(0).to(at::kFloat).contiguous(), scores = c.in(1).to(at::kFloat).contiguous();
  if (boxes.dim() != 3 || boxes.size(2) != 4) fail(c.node, fmt::format("boxes has shape [{}], expected [B, N, 4]", fmt::join(boxes.sizes(), ",")));
  if (scores.dim() != 3 || scores.size(0) != boxes.size(0) || scores.size(2) != boxes.size(1))
    fail(c.node, fmt::format("scores has shape [{}] for boxes [{}]; expected [B, C, N]", fmt::join(scores.sizes(), ","),
                             fmt::join(boxes.sizes(), ",")));
  const int64_t max_per_class = c.has(2) && c.in(2).numel() ? c.in(2).to(at::kLong).reshape({-1})[0].item<int64_t>() : 0;
  const float iou_threshold = c.has(3) && c.in(3).numel() ? c.in(3).to(at::kFloat).reshape({-1})[0].item<float>() : 0.f;
  const bool by_score = c.has(4) && c.in(4).numel();
  const float score_threshold = by_score ? c.in(4).to(at::kFloat).reshape({-1})[0].item<float>() : 0.f;
  const bool centers = c.node.attr_int("center_point_box", 0) != 0;
  const int64_t batches = boxes.size(0), n = boxes.size(1), classes = scores.size(1);
  const float* bp = boxes.data_ptr<float>();
  const float* sp = scores.data_ptr<float>();
  std::vector<int64_t> selected;
  for (int64_t b = 0; b < batches; ++b) {
    std::vector<Box> bx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const float* v = bp + (b * n + i) * 4;
      if (centers) {
        bx[i] = {v[1] - v[3] / 2, v[0] - v[2] / 2, v[1] + v[3] / 2, v[0] + v[2] / 2};
      } else {
        bx[i] = {std::min(v[0], v[2]), std::min(v[1], v[3]), std::max(v[0], v[2]), std::max(v[1], v[3])};
      }
    }
    for (int64_t k = 0; k < classes; ++k) {
      const float* s = sp + (b * classes + k) * n;
      std::vector<int64_t> order;
      for (int64_t i = 0; i < n; ++i)
        if (!by_score || s[i] > score_threshold) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
        bool keep = true;
        for (int64_t j : kept) keep = keep && iou(bx[i], bx[j]) <= iou_threshold;
        if (keep) kept.push_back(i);
      }
      for (int64_t i : kept) selected.insert(selected.end(), {b, k, i});
    }
  }
  const int64_t rows = static_cast<int64_t>(selected.size()) / 3;
  return one(at::tensor(selected, at::kLong).reshape({rows, 3}));
}

}  // namespace

void register_detection(KernelTable& t) { t["NonMaxSuppression"] = non_max_suppression; }

}  // namespace edgepack::ops
