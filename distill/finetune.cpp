#include "distill/finetune.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"
#include "passes/prune.h"

namespace edgepack::distill {

const OptionTable<FinetuneSettings>& finetune_options() {
  using S = FinetuneSettings;
  static const OptionTable<S> table =
      OptionTable<S>()
          .integer("epochs", &S::epochs, "Epochs over the training data", Range::at_least(1))
          .integer("batch-size", &S::batch_size, "Batch size", Range::at_least(1))
          .real("lr", &S::lr, "Learning rate (AdamW, cosine schedule)", Range::above(0))
          .integer("seed", &S::seed, "Shuffling seed", Range::at_least(0))
          .real("alpha", &S::alpha, "Weight of the label cross-entropy (1 - alpha on KD)", Range::closed(0, 1))
          .real("temperature", &S::temperature, "Softmax temperature of the KD loss", Range::above(0))
          .choice("keep-zeros", &S::keep_zeros, {"auto", "true", "false"},
                  "Keep exact zeros at zero: auto = in weights that are at least 25% zeros (sparse pruning)")
          .choice("loss", &S::loss, {"auto", "kd", "match"},
                  "kd: CE + KD on output 0's scores; match: every float output's noise-to-signal ratio against the "
                  "teacher (maps, boxes, embeddings; labels unused); auto: kd when output 0 is [N,C] or [N,T,V] scores");
  return table;
}

PassInfo finetune_info() {
  PassInfo info = make_pass(
      "finetune", "Recovery fine-tune with the uncompressed model as teacher (knowledge distillation + labels)",
      "Trains the model in place on the training data (--data) with the pipeline's input model as teacher. Scores "
      "(output 0 [N,C] or [N,T,V]): alpha * CE(labels) + (1 - alpha) * T^2 * KL at temperature T, KD alone without "
      "labels. Any other output (maps, boxes, embeddings): each float output matched to the teacher's by its "
      "noise-to-signal ratio mean (s-t)^2 / mean t^2, no labels needed. AdamW with a cosine schedule. "
      "Sparse weights keep their zeros (keep-zeros). Put it after prune or any pass that shrinks the model.",
      finetune_options(), &finetune_pass);
  info.needs_original = true;
  return info;
}

bool score_output(const Model& model) {
  if (model.graph.outputs.empty() || !model.graph.outputs[0].shape) return false;
  const std::vector<Dim>& d = *model.graph.outputs[0].shape;
  return (d.size() == 2 || d.size() == 3) && d.back().known() && d.back().value > 1;
}

bool has_float_output(const Model& model) {
  for (const auto& o : model.graph.outputs)
    if (float_value(o)) return true;
  return false;
}

TrainResult finetune(Model& model, const Model& original, const Dataset& data, const FinetuneSettings& f,
                     const Dataset* eval, bool quiet) {
  TrainOptions o;
  o.epochs = f.epochs;
  o.batch_size = f.batch_size;
  o.seed = static_cast<uint64_t>(f.seed);
  o.schedule.base_lr = f.lr;
  const bool match = f.loss == "match" || (f.loss == "auto" && !score_output(original));
  o.output_loss = match ? TrainOptions::OutputLoss::Outputs : TrainOptions::OutputLoss::Logits;
  o.alpha = data.has_labels() ? f.alpha : 0.0;
  o.temperature = f.temperature;
  o.eval = eval;
  o.quiet = quiet;
  if (f.keep_zeros != "false")
    for (const auto& w : prunable_weights(model, {})) {
      const at::Tensor& t = model.graph.initializers.at(w.tensor);
      const at::Tensor nonzero = t.ne(0).to(at::kFloat);
      if (f.keep_zeros == "true" || nonzero.mean().item<double>() <= 0.75) o.masks[w.tensor] = nonzero;
    }
  return train(model, data, o, &original);
}

PassResult finetune_pass(Model& model, const FinetuneSettings& settings, PassContext& context) {
  if (!context.train) throw InputError("finetune needs training data (--data)");
  if (!context.original) throw Error("internal: finetune runs without the pipeline's original model");
  const TrainResult r = finetune(model, *context.original, *context.train, settings, context.eval, context.quiet);
  PassResult result;
  result.changed = true;
  result.stats["epochs"] = static_cast<double>(r.epochs.size());
  if (!r.epochs.empty()) result.stats["train_loss"] = r.epochs.back().train_loss;
  if (r.eval_accuracy) result.stats["eval_accuracy"] = *r.eval_accuracy;
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : r.epochs)
    epochs.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss},
                      {"eval_accuracy", e.eval_accuracy ? nlohmann::json(*e.eval_accuracy) : nlohmann::json()}});
  result.details["epochs"] = epochs;
  return result;
}

}  // namespace edgepack::distill
