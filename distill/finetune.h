// Recovery fine-tune after compression: trains a pruned (or otherwise shrunk) model on labelled
// data with its uncompressed original as teacher (alpha CE on labels + (1 - alpha) KD at
// temperature T; KD alone without labels). Weights that are exactly zero in `keep_zeros` layers
// stay zero (unstructured / N:M sparsity survives the fine-tune).
#pragma once
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/ir.h"
#include "distill/trainer.h"

namespace edgepack::distill {

struct FinetuneOptions {
  int64_t epochs = 1;
  int64_t batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  double alpha = 0.5;
  double temperature = 4.0;
  bool keep_zeros = false;        // mask every Conv/Gemm/MatMul weight's zeros
  const Dataset* eval = nullptr;
  bool quiet = false;
};

TrainResult finetune(Model& model, const Model& original, const Dataset& train, const FinetuneOptions& options);

}  // namespace edgepack::distill
