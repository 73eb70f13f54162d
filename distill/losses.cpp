#include "distill/losses.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace edgepack::distill {
namespace {

bool per_token(const at::Tensor& logits) { return logits.dim() == 3 && logits.size(2) > 1; }

// One row per prediction: [N, C'] per sample, [N*T, V] per token.
at::Tensor as_2d(const at::Tensor& logits) {
  return per_token(logits) ? logits.reshape({-1, logits.size(2)}) : logits.reshape({logits.size(0), -1});
}

// Row losses back to one per sample: the mean over a sequence's tokens.
at::Tensor per_sample(const at::Tensor& rows, const at::Tensor& logits) {
  return per_token(logits) ? rows.view({logits.size(0), logits.size(1)}).mean(1) : rows;
}

at::Tensor rows_of_labels(const at::Tensor& logits, const at::Tensor& labels) {
  const bool ok = per_token(logits) ? labels.dim() == 2 && labels.size(0) == logits.size(0) && labels.size(1) == logits.size(1)
                                    : labels.dim() == 1 && labels.size(0) == logits.size(0);
  if (!ok)
    throw InputError(fmt::format("labels [{}] do not match logits [{}] (labels [N] per sample, [N,T] per token)",
                                 fmt::join(labels.sizes(), ","), fmt::join(logits.sizes(), ",")));
  return labels.to(at::kLong).reshape({-1});
}

}  // namespace

at::Tensor kd_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, double temperature) {
  if (temperature <= 0) throw InputError(fmt::format("temperature must be positive, got {}", temperature));
  const at::Tensor s = as_2d(student_logits), t = as_2d(teacher_logits);
  if (s.sizes() != t.sizes())
    throw InputError(fmt::format("student logits [{}] and teacher logits [{}] differ in shape",
                                 fmt::join(student_logits.sizes(), ","), fmt::join(teacher_logits.sizes(), ",")));
  const at::Tensor log_p_student = at::log_softmax(s / temperature, 1);
  const at::Tensor log_p_teacher = at::log_softmax(t.detach() / temperature, 1);
  // KL(p_t || p_s) = sum p_t (log p_t - log p_s); from log-probabilities, stable for tiny p_t.
  const at::Tensor rows = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1) * (temperature * temperature);
  return per_sample(rows, student_logits);
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor rows = rows_of_labels(logits, labels);
  return per_sample(-at::log_softmax(as_2d(logits), 1).gather(1, rows.unsqueeze(1)).squeeze(1), logits);
}

int64_t correct_top1(const at::Tensor& logits, const at::Tensor& labels) {
  return as_2d(logits.detach()).argmax(1).eq(rows_of_labels(logits, labels)).sum().item<int64_t>();
}

at::Tensor distill_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                        const at::Tensor& labels, double alpha, double temperature) {
  if (!teacher_logits.defined()) return cross_entropy(student_logits, labels);
  at::Tensor kd = kd_loss(student_logits, teacher_logits, temperature);
  if (alpha == 0) return kd;
  return cross_entropy(student_logits, labels) * alpha + kd * (1 - alpha);
}

at::Tensor feature_mse(const at::Tensor& student, const at::Tensor& teacher) {
  if (student.sizes() != teacher.sizes())
    throw InputError(fmt::format("feature shapes differ: student [{}], teacher [{}]", fmt::join(student.sizes(), ","),
                                 fmt::join(teacher.sizes(), ",")));
  const at::Tensor d = (student - teacher.detach()).reshape({student.size(0), -1});
  return (d * d).mean(1);
}

at::Tensor output_match_loss(const at::Tensor& student, const at::Tensor& teacher) {
  if (student.sizes() != teacher.sizes())
    throw InputError(fmt::format("output shapes differ: student [{}], teacher [{}]", fmt::join(student.sizes(), ","),
                                 fmt::join(teacher.sizes(), ",")));
  const at::Tensor t = teacher.detach().reshape({teacher.size(0), -1});
  const at::Tensor d = student.reshape({student.size(0), -1}) - t;
  // The floor keeps an all-zero teacher sample (a blank probability map) from dividing by zero:
  // its loss is then the plain MSE scaled up, which still pulls the student to zero.
  return (d * d).mean(1) / ((t * t).mean(1) + kMatchPowerFloor);
}

FeatureProjection::FeatureProjection(int64_t student_width, int64_t teacher_width, int64_t rank, uint64_t seed) {
  if (rank != 2 && rank != 4)
    throw InputError(fmt::format("feature matching takes 2-D or 4-D values, got rank {}", rank));
  if (student_width == teacher_width) return;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(student_width));
  weight_ = at::empty({teacher_width, student_width}, at::kFloat).uniform_(-bound, bound, gen);
  bias_ = at::empty({teacher_width}, at::kFloat).uniform_(-bound, bound, gen);
  weight_.set_requires_grad(true);
  bias_.set_requires_grad(true);
}

at::Tensor FeatureProjection::operator()(const at::Tensor& student) const {
  if (identity()) return student;
  if (student.size(1) != weight_.size(1))
    throw InputError(fmt::format("feature of width {} does not fit a projection from width {}", student.size(1),
                                 weight_.size(1)));
  if (student.dim() == 2) return at::addmm(bias_, student, weight_.t());
  return at::conv2d(student, weight_.reshape({weight_.size(0), weight_.size(1), 1, 1}), bias_);
}

std::vector<at::Tensor> FeatureProjection::parameters() const {
  if (identity()) return {};
  return {weight_, bias_};
}

}  // namespace edgepack::distill
