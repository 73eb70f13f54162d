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

class Distill : public Pass {
 public:
  PassResult run(Model& model, const PassOptions& options, PassContext& context) override;
};

PassInfo distill_info();

}  // namespace edgepack::distill
