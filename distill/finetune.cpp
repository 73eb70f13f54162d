#include "distill/finetune.h"

#include <ATen/ATen.h>

#include "passes/prune.h"

namespace edgepack::distill {

TrainResult finetune(Model& model, const Model& original, const Dataset& data, const FinetuneOptions& f) {
  TrainOptions o;
  o.epochs = f.epochs;
  o.batch_size = f.batch_size;
  o.seed = f.seed;
  o.schedule.base_lr = f.lr;
  o.alpha = data.has_labels() ? f.alpha : 0.0;
  o.temperature = f.temperature;
  o.eval = f.eval;
  o.quiet = f.quiet;
  if (f.keep_zeros)
    for (const auto& w : prunable_weights(model, {})) o.masks[w.tensor] = model.graph.initializers.at(w.tensor).ne(0).to(at::kFloat);
  return train(model, data, o, &original);
}

}  // namespace edgepack::distill
