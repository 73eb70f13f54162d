// The training engine shared by pruning's recovery fine-tune and distillation: autograd through
// edgepack's own Executor on the IR (no torch::nn). The student's trainable initializers become
// requires_grad parameter tensors substituted into the executor; the Model is updated only when
// trained values are written back (after every epoch, and at the end).
//
// Loss per sample: alpha*CE(labels) + (1-alpha)*KD(teacher, T) with a teacher, CE alone without
// one; plus feature_weight * MSE for each feature pair. Per-sample losses are summed and divided
// by the GLOBAL batch size, so data-parallel ranks (each taking its shard of every global batch)
// all-reduce gradients by sum and get the single-process gradient up to float reduction order.
//
// BatchNormalization trains in its inference form: scale and bias learn, running statistics stay
// as they are (fine-tuning and distilling from a trained model keep them meaningful). Dropout is
// the identity.
//
// Determinism: shuffling uses std::mt19937_64 seeded from `seed` (its state is checkpointed);
// with the same thread count a resumed run repeats an uninterrupted one bit for bit.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/ir.h"
#include "distill/optimizer.h"
#include "distill/schedule.h"

namespace edgepack::distill {

class Communicator;

// Feature matching: MSE between a teacher value and a student value (any node output), through a
// learned 1x1 projection when their widths (dim 1) differ.
struct FeaturePair {
  std::string teacher;
  std::string student;
};

struct EpochStats {
  int64_t epoch = 0;                    // 1-based
  int64_t epochs = 0;
  double train_loss = 0;                // mean per sample over the epoch (all ranks)
  std::optional<double> train_accuracy; // top-1 on the training batches, when labels exist (per token)
  std::optional<double> eval_accuracy;  // fraction in [0,1], when an eval dataset with labels is given
                                        // (per token for per-token labels [N, T])
  std::optional<double> eval_perplexity;  // exp(mean token cross-entropy), for per-token labels
  double lr = 0;                        // at the epoch's last step
  double seconds = 0;                   // wall time of the epoch (training and evaluation)
  double samples_per_second = 0;        // global training throughput
};

struct TrainOptions {
  int64_t epochs = 1;
  int64_t batch_size = 64;              // GLOBAL batch: split across ranks
  uint64_t seed = 0;
  OptimizerOptions optimizer;
  ScheduleOptions schedule;             // base_lr, min_lr, warmup_steps

  // What the teacher teaches. Logits: output 0 holds class (or token) scores, loss
  // alpha * CE + (1 - alpha) * KD. Outputs: every float output of the student matches the
  // teacher's (output_match_loss, a per-sample noise-to-signal ratio, summed over outputs): the
  // label-free recovery for models whose outputs are not scores (probability maps, boxes,
  // embeddings); labels and alpha are not used.
  enum class OutputLoss { Logits, Outputs };
  OutputLoss output_loss = OutputLoss::Logits;
  // Losses (teacher only): CE weight alpha, KD temperature, feature matching.
  double alpha = 0.5;
  double temperature = 4.0;
  std::vector<FeaturePair> features;
  double feature_weight = 1.0;
  // Teacher outputs computed once for the whole training set (into work_dir when set, else
  // memory) instead of on the fly every step.
  bool cache_teacher = false;

  // Which initializers train; empty = trainable_initializers(student).
  std::vector<std::string> trainable;
  // Initializer name -> 0/1 tensor of its shape: pruned weights stay exactly zero (gradients
  // masked, weights re-masked after every step). The weights are masked before training.
  std::map<std::string, at::Tensor> masks;

  // Checkpoints: after every epoch into work_dir (empty = none). With resume, training continues
  // from work_dir's checkpoint (InputError when the settings differ; from scratch when absent).
  std::string work_dir;
  bool resume = false;

  const Dataset* eval = nullptr;        // evaluated after every epoch (top-1, core/evaluate)
  int64_t eval_batch_size = 256;
  bool quiet = false;                   // no progress on stderr
  // Called on every rank after each epoch's checkpoint is written.
  std::function<void(const EpochStats&)> on_epoch;
  // Data-parallel group; nullptr = this process alone.
  Communicator* comm = nullptr;
};

struct TrainResult {
  std::vector<EpochStats> epochs;       // the epochs run by this call (not those resumed past)
  int64_t resumed_from_epoch = 0;       // 0 = started from scratch
  int64_t steps = 0;                    // optimizer steps in total, resumed ones included
  std::optional<double> eval_accuracy;  // after the last epoch
  std::optional<double> eval_perplexity;  // after the last epoch, for per-token labels
  std::vector<std::string> trained;     // initializer names that were parameters
};

// Float initializers that feed a weight or bias slot of Conv/ConvTranspose/Gemm/MatMul (W, R, B, P
// of RNN/GRU/LSTM), the
// scale/bias of BatchNormalization or LayerNormalization, the table of a Gather (embeddings), or
// either operand of Add/Mul unless a scalar (not BN running statistics, not shape or integer
// tensors), in name order.
std::vector<std::string> trainable_initializers(const Model& model);

// A value OutputLoss::Outputs matches: floating point (or of unknown type).
bool float_value(const ValueInfo& v);

// Trains `student` in place on `train` (labels needed unless a teacher is given and alpha is 0).
// `teacher` (optional) must take the same inputs; output 0 of both is the logits. InputError on
// mismatched data, masks, names or settings; Error when a data-parallel peer fails.
TrainResult train(Model& student, const Dataset& train, const TrainOptions& options, const Model* teacher = nullptr);

}  // namespace edgepack::distill
