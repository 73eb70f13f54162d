// Less common ai.onnx kernels (opsets up to 17, a few opset-18 extensions accepted):
//  - losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss.
// Semantics choices that are not obvious from the spec text:
//  - Losses follow ONNX's reference: a target equal to ignore_index contributes 0 to the loss
//    and 0 to the weight sum; `mean` divides the (weighted) sum by the sum of the per-element
//    weights (the count of non-ignored targets without a weight input). A target outside [0, C)
//    that is not ignore_index is an error.
#include <algorithm>
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

}  // namespace

void register_extra(KernelTable& t) {
  t["NegativeLogLikelihoodLoss"] = nll;
  t["SoftmaxCrossEntropyLoss"] = softmax_cross_entropy;
}

}  // namespace edgepack::ops
