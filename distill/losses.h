// Distillation and fine-tune losses, per sample so that a trainer can divide by the global batch
// size: data-parallel ranks holding uneven shards then still sum to the exact global mean.
// Logits of shape [N, C] or [N, C, 1, ...] are taken as [N, C'] (every non-batch element is a
// class), the same convention as core/evaluate's top-1. Sequence logits [N, T, V] (rank 3, V > 1)
// are a distribution per token over the last axis: a sample's loss is the mean over its T tokens,
// and its labels are [N, T].
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edgepack::distill {

// Hinton et al.: T^2 * KL(softmax(teacher/T) || softmax(student/T)) per sample, [N]. The T^2
// keeps the soft-target gradients on the scale of the hard-label ones as T changes.
at::Tensor kd_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, double temperature);

// -log softmax(logits)[label] per sample, [N]. Labels are int64 [N] ([N, T] for sequences).
at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels);

// alpha * CE + (1 - alpha) * KD per sample when teacher logits are given (defined), else CE.
at::Tensor distill_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                        const at::Tensor& labels, double alpha, double temperature);

// How many top-1 predictions equal the labels (per sample, or per token for sequences).
int64_t correct_top1(const at::Tensor& logits, const at::Tensor& labels);

// Mean over every non-batch element of (student - teacher)^2, per sample, [N]. InputError
// when the shapes differ.
at::Tensor feature_mse(const at::Tensor& student, const at::Tensor& teacher);

// Label-free recovery of any output (probability maps, boxes, embeddings): the student's output
// against the teacher's as a noise-to-signal power ratio per sample,
//   mean_j (s_j - t_j)^2 / (mean_j t_j^2 + kMatchPowerFloor),   [N]
// i.e. 10^(-SQNR/10) of the sample. Scale-free, so outputs on different scales weigh the same,
// and minimising it raises the SQNR the gates measure. InputError when the shapes differ.
constexpr double kMatchPowerFloor = 1e-6;
at::Tensor output_match_loss(const at::Tensor& student, const at::Tensor& teacher);

// A learned 1x1 projection from a student value's width (dim 1) to the teacher's: Conv 1x1 for
// 4-D values [N,C,H,W], Linear for 2-D [N,C]. The identity (no parameters) when widths match.
// Initialised like torch.nn.Linear (uniform +-1/sqrt(fan_in)) from `seed`, so every
// data-parallel rank starts from the same values.
class FeatureProjection {
 public:
  FeatureProjection() = default;
  // `rank` is the rank of the matched values (2 or 4; InputError otherwise).
  FeatureProjection(int64_t student_width, int64_t teacher_width, int64_t rank, uint64_t seed);
  at::Tensor operator()(const at::Tensor& student) const;
  bool identity() const { return !weight_.defined(); }
  // Weight [teacher, student] (bias [teacher]) as requires_grad leaves; empty for the identity.
  std::vector<at::Tensor> parameters() const;

 private:
  at::Tensor weight_, bias_;
};

}  // namespace edgepack::distill
