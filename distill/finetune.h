// finetune: recovery fine-tune after compression. Trains a pruned (or otherwise shrunk) model on
// the training data with the pipeline's uncompressed input model as teacher:
//   loss = alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)   (KD alone without labels)
// AdamW with a cosine schedule. Weights kept sparse stay sparse: with keep-zeros=auto every
// Conv/Gemm/MatMul weight that is at least a quarter exact zeros (unstructured or N:M pruning)
// keeps its zeros; true masks every weight's zeros, false none.
//   prune{target-macs=0.5},finetune{epochs=2}
#pragma once
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/ir.h"
#include "distill/trainer.h"
#include "passes/pass.h"

namespace edgepack::distill {

struct FinetuneSettings {
  int64_t epochs = 1;
  int64_t batch_size = 64;
  double lr = 1e-3;
  int64_t seed = 0;
  double alpha = 0.5;
  double temperature = 4.0;
  std::string keep_zeros = "auto";
};

const OptionTable<FinetuneSettings>& finetune_options();
PassInfo finetune_info();

// Trains `model` in place with `original` as teacher; `eval` (may be null) is scored each epoch.
TrainResult finetune(Model& model, const Model& original, const Dataset& train, const FinetuneSettings& settings,
                     const Dataset* eval = nullptr, bool quiet = false);

// The pass: PassContext::train, with PassContext::original as teacher.
PassResult finetune_pass(Model& model, const FinetuneSettings& settings, PassContext& context);

}  // namespace edgepack::distill
