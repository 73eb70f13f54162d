#include "quantize/weight_only.h"

#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgepack {

void WeightQuantSpec::check(int64_t k, const std::string& what) const {
  if (bits != 4 && bits != 8) throw InputError(fmt::format("bits must be 4 or 8, not {}", bits));
  if (group_size < 0) throw InputError(fmt::format("group size must be 0 (per channel) or positive, not {}", group_size));
  if (group_size > 0 && k % group_size != 0)
    throw InputError(fmt::format("group size {} does not divide the {} input rows of {}", group_size, k, what));
}

at::Tensor QuantizedWeight::dequantize() const {
  const int64_t rows_per_group = values.size(0) / scales.size(0);
  at::Tensor v = values.to(at::kFloat);
  if (zero_points.defined()) v = v - zero_points.to(at::kFloat).repeat_interleave(rows_per_group, 0);
  return v * scales.repeat_interleave(rows_per_group, 0);
}

namespace {

// Eigen views of a row-major [K, N] tensor are column-major N x K matrices: column k holds input
// row k for every output channel, contiguous, which is the order GPTQ walks.
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
using MatrixI8 = Eigen::Matrix<int8_t, Eigen::Dynamic, Eigen::Dynamic>;

// Scales and zero points of one group, from the (error-updated) columns `cols` of it.
void group_params(const Eigen::Ref<const MatrixF>& cols, const WeightQuantSpec& spec, Eigen::Ref<Eigen::VectorXf> scale,
                  Eigen::Ref<Eigen::VectorXf> zero) {
  const float qmin = static_cast<float>(spec.qmin()), qmax = static_cast<float>(spec.qmax());
  for (Eigen::Index n = 0; n < cols.rows(); ++n) {
    if (spec.symmetric) {
      const float amax = cols.row(n).cwiseAbs().maxCoeff();
      // An all-zero group still needs a positive scale; any represents its zeros exactly.
      scale[n] = amax > 0 ? amax / qmax : 1.0f;
      zero[n] = 0;
    } else {
      const float lo = std::min(cols.row(n).minCoeff(), 0.0f), hi = std::max(cols.row(n).maxCoeff(), 0.0f);
      scale[n] = hi > lo ? (hi - lo) / (qmax - qmin) : 1.0f;
      zero[n] = std::clamp(std::nearbyint(qmin - lo / scale[n]), qmin, qmax);
    }
  }
}

// Quantizes W (N x K, updated in place with the propagated error when `hinv` is given) column by
// column. `hinv` is the upper Cholesky factor of H^-1; nullptr = round to nearest only.
QuantizedWeight quantize_columns(MatrixF& w, const MatrixF* hinv, const WeightQuantSpec& spec, int64_t block) {
  const Eigen::Index n_out = w.rows(), k = w.cols();
  const int64_t groups = spec.groups(k), group = spec.group_size > 0 ? spec.group_size : k;
  QuantizedWeight q;
  q.values = at::empty({k, n_out}, at::kChar);
  q.scales = at::empty({groups, n_out}, at::kFloat);
  at::Tensor zeros = at::empty({groups, n_out}, at::kFloat);
  Eigen::Map<MatrixI8> values(q.values.data_ptr<int8_t>(), n_out, k);
  Eigen::Map<MatrixF> scales(q.scales.data_ptr<float>(), n_out, groups);
  Eigen::Map<MatrixF> zero_points(zeros.data_ptr<float>(), n_out, groups);
  const float qmin = static_cast<float>(spec.qmin()), qmax = static_cast<float>(spec.qmax());
  // Lazy batch updates: errors reach the columns right of the block once per block. A block is
  // whole groups, so each group's scale sees all the error of the columns before it (per channel,
  // the scales come from the whole weight before any update).
  if (spec.group_size > 0) block = std::max<int64_t>(1, (block + group - 1) / group) * group;
  block = std::max<int64_t>(block, 1);
  Eigen::VectorXf deq(n_out), err(n_out);
  for (Eigen::Index i1 = 0; i1 < k; i1 += block) {
    const Eigen::Index i2 = std::min<Eigen::Index>(i1 + block, k);
    MatrixF block_err(n_out, i2 - i1);
    for (Eigen::Index c = i1; c < i2; ++c) {
      const Eigen::Index g = c / group;
      if (c % group == 0) group_params(w.middleCols(c, group), spec, scales.col(g), zero_points.col(g));
      for (Eigen::Index n = 0; n < n_out; ++n) {
        const float s = scales(n, g), z = zero_points(n, g);
        const float v = std::clamp(std::nearbyint(w(n, c) / s) + z, qmin, qmax);
        values(n, c) = static_cast<int8_t>(v);
        deq[n] = (v - z) * s;
      }
      if (!hinv) continue;
      err = (w.col(c) - deq) / (*hinv)(c, c);
      w.middleCols(c + 1, i2 - c - 1).noalias() -= err * hinv->row(c).segment(c + 1, i2 - c - 1);
      block_err.col(c - i1) = err;
    }
    if (hinv && i2 < k) w.rightCols(k - i2).noalias() -= block_err * hinv->block(i1, i2, i2 - i1, k - i2);
  }
  if (!spec.symmetric) q.zero_points = zeros.to(at::kChar);
  return q;
}

MatrixF eigen_weight(const at::Tensor& w_in_by_out, const WeightQuantSpec& spec) {
  if (w_in_by_out.dim() != 2) throw InputError(fmt::format("weight-only quantization needs a 2-D weight, not rank {}", w_in_by_out.dim()));
  spec.check(w_in_by_out.size(0), "the weight");
  at::Tensor w = w_in_by_out.to(at::kFloat).contiguous();
  if (!at::isfinite(w).all().item<bool>()) throw InputError("the weight holds NaN or Inf; quantization needs finite weights");
  return Eigen::Map<const MatrixF>(w.data_ptr<float>(), w.size(1), w.size(0));
}

}  // namespace

QuantizedWeight quantize_rtn(const at::Tensor& w_in_by_out, const WeightQuantSpec& spec) {
  MatrixF w = eigen_weight(w_in_by_out, spec);
  return quantize_columns(w, nullptr, spec, w.cols());
}

QuantizedWeight quantize_gptq(const at::Tensor& w_in_by_out, const at::Tensor& hessian, const WeightQuantSpec& spec,
                              const GptqOptions& options) {
  MatrixF w = eigen_weight(w_in_by_out, spec);
  const Eigen::Index k = w.cols();
  if (hessian.dim() != 2 || hessian.size(0) != k || hessian.size(1) != k)
    throw InputError(fmt::format("the Hessian must be [{0}, {0}] for a weight with {0} input rows", k));
  at::Tensor h64 = hessian.to(at::kDouble).contiguous();
  MatrixD h = Eigen::Map<const MatrixD>(h64.data_ptr<double>(), k, k);
  if (!h.allFinite()) throw InputError("the Hessian holds NaN or Inf (non-finite calibration activations)");
  // An input that was always zero carries no information: its weights cannot matter.
  for (Eigen::Index c = 0; c < k; ++c)
    if (h(c, c) == 0) {
      h(c, c) = 1;
      w.col(c).setZero();
    }
  h.diagonal().array() += options.damp * h.diagonal().mean();
  Eigen::LLT<MatrixD> chol(h);
  if (chol.info() != Eigen::Success) throw Error("GPTQ: the damped Hessian is not positive definite");
  const MatrixD h_inv = chol.solve(MatrixD::Identity(k, k));
  Eigen::LLT<MatrixD> chol_inv(h_inv);
  if (chol_inv.info() != Eigen::Success) throw Error("GPTQ: the inverse Hessian is not positive definite");
  const MatrixF upper = MatrixD(chol_inv.matrixU()).cast<float>();
  return quantize_columns(w, &upper, spec, options.block_size);
}

HessianAccumulator::HessianAccumulator(int64_t k) : sum_(at::zeros({k, k}, at::kDouble)) {}

void HessianAccumulator::add(const at::Tensor& x) {
  const int64_t k = sum_.size(0);
  if (x.dim() < 1 || x.size(-1) != k)
    throw Error(fmt::format("Hessian: an activation's last dimension is {}, the weight has {} input rows",
                            x.dim() ? x.size(-1) : 0, k));
  at::Tensor rows = x.reshape({-1, k}).to(at::kDouble);
  sum_.add_(rows.t().matmul(rows));
  rows_ += rows.size(0);
}

at::Tensor HessianAccumulator::hessian() const {
  return rows_ ? sum_ * (2.0 / static_cast<double>(rows_)) : sum_.clone();
}

int64_t quantized_bytes(const QuantizedWeight& q, const WeightQuantSpec& spec) {
  auto packed = [&](int64_t n) { return (n * spec.bits + 7) / 8; };
  int64_t bytes = packed(q.values.numel()) + q.scales.numel() * 4;
  if (q.zero_points.defined()) bytes += packed(q.zero_points.numel());
  return bytes;
}

}  // namespace edgepack
