// finetune: recovery fine-tune after compression. Trains a pruned (or otherwise shrunk) model on
// the training data with the pipeline's uncompressed input model as teacher:
//   loss = alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)   (KD alone without labels)
// when output 0 holds scores ([N, C] classes, [N, T, V] tokens), else (loss=match, the default for
// probability maps, boxes and embeddings) every float output matched to the teacher's:
//   loss = sum_outputs mean (s - t)^2 / mean t^2        (a noise-to-signal ratio; no labels used)
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
  std::string loss = "auto";   // auto (kd when output 0 holds scores, else match), kd, match
};

// Output 0 holds class scores [N, C] (C > 1) or token scores [N, T, V] (V > 1): what the
// softened softmax of knowledge distillation recovers. Other outputs are recovered by matching.
bool score_output(const Model& model);
// finetune can recover the model label-free: it has a float output to match.
bool has_float_output(const Model& model);

const OptionTable<FinetuneSettings>& finetune_options();
PassInfo finetune_info();

// Trains `model` in place with `original` as teacher; `eval` (may be null) is scored each epoch.
TrainResult finetune(Model& model, const Model& original, const Dataset& train, const FinetuneSettings& settings,
                     const Dataset* eval = nullptr, bool quiet = false);

// The pass: PassContext::train, with PassContext::original as teacher.
PassResult finetune_pass(Model& model, const FinetuneSettings& settings, PassContext& context);

}  // namespace edgepack::distill
