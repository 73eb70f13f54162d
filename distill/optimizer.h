// SGD with momentum and AdamW over plain at::Tensor parameters. Written on ATen rather than
// torch::optim so that the state is a list of named tensors a checkpoint can store and restore
// bit for bit, and so that this file needs no torch/torch.h.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "core/npy.h"

namespace edgepack::distill {

struct OptimizerOptions {
  enum class Kind { SGD, AdamW };
  Kind kind = Kind::AdamW;
  double momentum = 0.9;            // SGD
  bool nesterov = false;            // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
  // SGD: L2 added to the gradient; AdamW: decoupled (Loshchilov & Hutter). Applied to tensors of
  // rank >= 2 only: decaying biases and BatchNorm scales hurts small nets and helps nothing.
  double weight_decay = 0.0;
};

// "sgd" / "adamw"; InputError naming the choices otherwise.
OptimizerOptions::Kind optimizer_kind(const std::string& name);

class Optimizer {
 public:
  // `parameters` are requires_grad leaves, updated in place by step().
  Optimizer(std::vector<at::Tensor> parameters, OptimizerOptions options);

  // One update from the parameters' .grad() at learning rate `lr`; parameters without a
  // gradient are skipped.
  void step(double lr);
  void zero_grad();

  // Momentum / moment buffers and the step count, as named tensors ("<index>/<slot>").
  NamedArrays state() const;
  // InputError when the state does not fit these parameters (another model or optimizer).
  void load_state(const NamedArrays& state);

 private:
  std::vector<at::Tensor> params_;
  OptimizerOptions options_;
  std::vector<at::Tensor> buf1_, buf2_;  // SGD momentum; AdamW exp_avg, exp_avg_sq
  int64_t steps_ = 0;
};

}  // namespace edgepack::distill
