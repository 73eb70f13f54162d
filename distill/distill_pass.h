// distill: step-by-step knowledge distillation (teacher -> assistants -> student). Each stage
// builds a smaller student from the previous stage's model (width: the most important channels
// of every dependency group, by structured pruning; depth: the least useful residual blocks
// dropped), then trains it on the previous stage's soft targets (alpha * CE on labels +
// (1 - alpha) * T^2 KL at temperature T), so no step has to bridge too wide a gap (Mirzadeh et
// al., "Improved Knowledge Distillation via Teacher Assistant"; NVIDIA Minitron).
//   distill{stages=3 target-params=0.1 epochs=6}: each stage keeps 0.1^(1/3) of the previous
//   stage's parameters; stage k trains epochs/3 epochs with stage k-1 as teacher.
// With `student=FILE.onnx` a user-given student (any architecture, same inputs and outputs)
// is trained in one stage instead.
// Needs PassContext::train (labelled data; without labels alpha is 0: KD alone). Checkpoints go
// to PassContext::work_dir/stage-K/ (trainer state each epoch, student.onnx when the stage is
// done), so `resume` continues a killed run where it stopped.
#pragma once
#include "passes/pass.h"

namespace edgepack::distill {

struct DistillSettings {
  int64_t stages = 1;
  double shrink = 0.5;
  double target_params = 0;
  double target_macs = 0;
  int64_t drop_blocks = 0;
  std::string student;
  int64_t epochs = 6;
  int64_t batch_size = 64;
  double lr = 0.002;
  std::string optimizer = "adamw";
  double weight_decay = 0;
  double warmup = 0.05;
  double temperature = 4;
  double alpha = 0.5;
  bool cache_teacher = false;
  int64_t seed = 0;
};

const OptionTable<DistillSettings>& distill_options();
PassInfo distill_info();

PassResult distill(Model& model, const DistillSettings& settings, PassContext& context);

}  // namespace edgepack::distill
