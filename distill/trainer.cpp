#include "distill/trainer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "distill/checkpoint.h"
#include "distill/data_parallel.h"
#include "distill/forward.h"
#include "distill/losses.h"
#include "core/progress.h"
#include "distill/teacher.h"

namespace edgepack::distill {
namespace {

using Clock = std::chrono::steady_clock;

// Input slots that hold learnable weights, by op type.
const std::map<std::string, std::set<size_t>> kTrainableSlots = {
    {"Conv", {1, 2}},  {"ConvTranspose", {1, 2}}, {"Gemm", {0, 1, 2}}, {"MatMul", {0, 1}},
    {"BatchNormalization", {1, 2}}, {"Add", {0, 1}}, {"Mul", {0, 1}},
    {"LayerNormalization", {1, 2}}, {"Gather", {0}},  // a float table gathered by ids: an embedding
    // W, R, B (and LSTM's peepholes P): the recurrent kernels are ATen ops, so they train too.
    {"RNN", {1, 2, 3}}, {"GRU", {1, 2, 3}}, {"LSTM", {1, 2, 3, 7}},
};

// A uniform permutation of [0, n) from the engine: Fisher-Yates with a fixed rule, so it does
// not depend on the standard library's std::shuffle.
at::Tensor permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1))]);
  return at::tensor(p, at::kLong);
}

// Rank r's contiguous share of `count` items: the first count % world ranks get one more.
std::pair<int64_t, int64_t> shard(int64_t count, int rank, int world) {
  const int64_t base = count / world, extra = count % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, base + (rank < extra ? 1 : 0)};
}

Dataset shard_of(const Dataset& d, int rank, int world) {
  if (world == 1) return d;
  auto [begin, count] = shard(d.samples, rank, world);
  Dataset s;
  s.source = d.source;
  s.samples = count;
  for (const auto& [name, t] : d.inputs) s.inputs[name] = t.narrow(0, begin, count);
  if (d.has_labels()) s.labels = d.labels.narrow(0, begin, count);
  return s;
}

std::string rng_state(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

struct Parameters {
  std::vector<std::string> names;      // initializer names, then "proj/<i>/<weight|bias>"
  std::vector<at::Tensor> tensors;     // requires_grad leaves, same order
  std::map<std::string, at::Tensor> initializers;  // the student's, for the executor
  std::vector<at::Tensor> masks;       // float 0/1 or undefined, same order
};

Parameters make_parameters(const Model& student, const std::vector<std::string>& names,
                           const std::map<std::string, at::Tensor>& masks) {
  Parameters p;
  for (const auto& [name, _] : masks)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw InputError(fmt::format("mask '{}' names no trainable initializer", name));
  for (const std::string& name : names) {
    auto it = student.graph.initializers.find(name);
    if (it == student.graph.initializers.end()) throw InputError(fmt::format("'{}' is not an initializer of the student", name));
    if (!it->second.is_floating_point()) throw InputError(fmt::format("initializer '{}' is not a float tensor", name));
    at::Tensor t = it->second.detach().to(at::kFloat).clone().contiguous();
    at::Tensor mask;
    if (auto m = masks.find(name); m != masks.end()) {
      if (m->second.sizes() != t.sizes())
        throw InputError(fmt::format("mask '{}' has shape [{}] but the initializer has [{}]", name,
                                     fmt::join(m->second.sizes(), ","), fmt::join(t.sizes(), ",")));
      mask = (m->second != 0).to(at::kFloat);
      t.mul_(mask);
    }
    t.set_requires_grad(true);
    p.names.push_back(name);
    p.tensors.push_back(t);
    p.initializers[name] = t;
    p.masks.push_back(mask);
  }
  return p;
}

void write_back(Model& student, const Parameters& p) {
  for (const auto& [name, t] : p.initializers) {
    at::Tensor& init = student.graph.initializers.at(name);
    init = t.detach().to(init.scalar_type()).clone();
  }
}

// Everything a resumed run must share with the one that wrote the checkpoint.
nlohmann::json settings_of(const Model& student, const Dataset& data, const TrainOptions& o, const Model* teacher,
                           const std::vector<std::string>& trainable) {
  nlohmann::json features = nlohmann::json::array();
  for (const auto& f : o.features) features.push_back({f.teacher, f.student});
  std::vector<std::string> masked;
  for (const auto& [name, _] : o.masks) masked.push_back(name);
  const auto& opt = o.optimizer;
  return {{"epochs", o.epochs}, {"batch_size", o.batch_size}, {"seed", o.seed},
          {"optimizer", {opt.kind == OptimizerOptions::Kind::SGD ? "sgd" : "adamw", opt.momentum, opt.nesterov,
                         opt.beta1, opt.beta2, opt.eps, opt.weight_decay}},
          {"schedule", {o.schedule.base_lr, o.schedule.min_lr, o.schedule.warmup_steps}},
          {"alpha", o.alpha}, {"temperature", o.temperature}, {"features", features},
          {"output_loss", o.output_loss == TrainOptions::OutputLoss::Outputs ? "outputs" : "logits"},
          {"feature_weight", o.feature_weight}, {"trainable", trainable}, {"masks", masked},
          {"data", data.digest()}, {"student", model_fingerprint(student)},
          {"teacher", teacher ? model_fingerprint(*teacher) : ""}};
}

}  // namespace

namespace {

bool is_additive_mask(const at::Tensor& t) {
  const at::Tensor masked = t <= -1e3;
  return masked.any().item<bool>() && (masked | (t == 0)).all().item<bool>();
}

}  // namespace

std::vector<std::string> trainable_initializers(const Model& model) {
  const Graph& g = model.graph;
  std::set<std::string> names;
  for (const Node& n : g.nodes) {
    auto slots = kTrainableSlots.find(n.op_type);
    if (slots == kTrainableSlots.end() || !(n.domain.empty() || n.domain == "ai.onnx")) continue;
    for (size_t s : slots->second) {
      if (s >= n.inputs.size()) continue;
      auto it = g.initializers.find(n.inputs[s]);
      if (it == g.initializers.end() || !it->second.is_floating_point()) continue;
      // A scalar operand of Add/Mul is a fixed constant (Gelu's 0.5, an attention scale), not a
      // bias or a per-channel scale.
      if ((n.op_type == "Add" || n.op_type == "Mul") && it->second.numel() == 1) continue;
      // An additive attention mask (every element 0 or a large negative) is structure: training
      // it would let a position see the future once weight decay or a gradient moves it.
      if (n.op_type == "Add" && is_additive_mask(it->second)) continue;
      names.insert(it->first);
    }
  }
  return {names.begin(), names.end()};
}

namespace {

// InputError for settings, data or models training cannot start from.
void check_training_inputs(const Model& student, const Dataset& data, const TrainOptions& o, const Model* teacher) {
  if (o.epochs < 1 || o.batch_size < 1) throw InputError("epochs and batch size must be positive");
  if (data.samples < 1) throw InputError("the training data is empty");
  if (student.graph.outputs.empty()) throw InputError("the student has no outputs");
  if (o.output_loss == TrainOptions::OutputLoss::Outputs && !teacher)
    throw InputError("matching outputs needs a teacher");
  const bool need_labels = !teacher || (o.alpha != 0 && o.output_loss == TrainOptions::OutputLoss::Logits);
  if (need_labels && !data.has_labels())
    throw InputError(teacher ? "the training data has no labels (set alpha to 0 to distil from the teacher alone)"
                             : "the training data has no labels, and no teacher was given");
  if (!o.features.empty() && !teacher) throw InputError("feature matching needs a teacher");
  data.validate(student);
  if (teacher) data.validate(*teacher);
}

// The values each step reads from the models: the matched outputs (output 0, the logits, or
// every float output), then the feature-matched values.
struct StepValues {
  std::vector<std::string> student, teacher;
  size_t outputs = 1;   // how many leading entries are outputs
};

StepValues step_values(const Model& student, const TrainOptions& o, const Model* teacher) {
  StepValues v;
  if (teacher && teacher->graph.outputs.empty()) throw InputError("the teacher has no outputs");
  if (o.output_loss == TrainOptions::OutputLoss::Outputs) {
    const auto &so = student.graph.outputs, &to = teacher->graph.outputs;
    if (so.size() != to.size())
      throw InputError(fmt::format("matching outputs: the student has {} outputs, the teacher {}", so.size(), to.size()));
    for (size_t i = 0; i < so.size(); ++i)
      if (float_value(so[i]) && float_value(to[i])) v.student.push_back(so[i].name), v.teacher.push_back(to[i].name);
    if (v.student.empty()) throw InputError("matching outputs: the model has no floating-point output to match");
    v.outputs = v.student.size();
  } else {
    v.student.push_back(student.graph.outputs[0].name);
    if (teacher) v.teacher.push_back(teacher->graph.outputs[0].name);
  }
  for (const auto& f : o.features) v.student.push_back(f.student), v.teacher.push_back(f.teacher);
  return v;
}

// One projection per feature pair (none without feature matching), its weights appended to
// `params` as "proj/<i>/<weight|bias>".
std::vector<FeatureProjection> feature_projections(Executor& exec, const Model* teacher, const Dataset& data,
                                                   const TrainOptions& o, const StepValues& values, Parameters& params) {
  std::vector<FeatureProjection> projections;
  if (o.features.empty()) return projections;
  // One sample through both models gives the widths the projections map between.
  auto probe = data.batch(0, 1).feeds;
  Executor texec(*teacher);
  auto s = run_values(exec, probe, values.student);
  auto t = run_values(texec, probe, values.teacher);
  for (size_t i = 0; i < o.features.size(); ++i) {
    const at::Tensor &sv = s[i + values.outputs], &tv = t[i + values.outputs];
    if (sv.dim() != tv.dim() || (sv.dim() == 4 && sv.sizes().slice(2) != tv.sizes().slice(2)))
      throw InputError(fmt::format("feature pair teacher '{}' [{}] / student '{}' [{}]: ranks or spatial sizes differ",
                                   o.features[i].teacher, fmt::join(tv.sizes(), ","), o.features[i].student,
                                   fmt::join(sv.sizes(), ",")));
    projections.emplace_back(sv.size(1), tv.size(1), sv.dim(), o.seed + 1000 + i);
    const char* slot[] = {"weight", "bias"};
    auto pp = projections.back().parameters();
    for (size_t k = 0; k < pp.size(); ++k) {
      params.names.push_back(fmt::format("proj/{}/{}", i, slot[k]));
      params.tensors.push_back(pp[k]);
      params.masks.emplace_back();
    }
  }
  return projections;
}

// Every rank starts from rank 0's values (projections are seeded alike; this also covers
// students loaded from files that differ across machines).
void start_from_rank_zero(const Parameters& params, Communicator& comm) {
  std::vector<at::Tensor> start;
  for (const at::Tensor& t : params.tensors) start.push_back(t.detach());
  comm.broadcast(start, 0);
}

// Where training stands: what a checkpoint stores and a resumed run restores.
struct TrainingState {
  TrainingState(Parameters p, const OptimizerOptions& options, uint64_t seed)
      : params(std::move(p)), optimizer(params.tensors, options), rng(seed) {}
  Parameters params;
  Optimizer optimizer;
  std::mt19937_64 rng;   // draws each epoch's shuffle
  int64_t epoch = 0;     // epochs completed
  int64_t step = 0;      // optimizer steps taken
};

// Restores `state` from work_dir's checkpoint; false when there is none. InputError when the
// checkpoint was made under other settings or lacks a parameter.
bool resume_from_checkpoint(const std::string& work_dir, const nlohmann::json& settings, TrainingState& state) {
  auto c = load_checkpoint(work_dir);
  if (!c) return false;
  if (c->settings != settings)
    throw InputError(fmt::format("checkpoint in '{}' was made with other settings, data or models; "
                                 "use another work folder or drop --resume", work_dir));
  std::map<std::string, at::Tensor> saved(c->parameters.begin(), c->parameters.end());
  at::NoGradGuard no_grad;
  Parameters& params = state.params;
  for (size_t i = 0; i < params.names.size(); ++i) {
    auto it = saved.find(params.names[i]);
    if (it == saved.end() || it->second.sizes() != params.tensors[i].sizes())
      throw InputError(fmt::format("checkpoint in '{}' lacks parameter '{}'", work_dir, params.names[i]));
    params.tensors[i].copy_(it->second);
  }
  state.optimizer.load_state(c->optimizer);
  std::istringstream in(c->rng_state);
  in >> state.rng;
  if (!in) throw InputError(fmt::format("checkpoint in '{}' has a bad RNG state", work_dir));
  state.epoch = c->epoch;
  state.step = c->step;
  return true;
}

void save_training_checkpoint(const std::string& work_dir, const nlohmann::json& settings, const TrainingState& state) {
  Checkpoint c;
  c.epoch = state.epoch;
  c.step = state.step;
  c.rng_state = rng_state(state.rng);
  c.settings = settings;
  for (size_t i = 0; i < state.params.names.size(); ++i)
    c.parameters.emplace_back(state.params.names[i], state.params.tensors[i].detach());
  c.optimizer = state.optimizer.state();
  save_checkpoint(work_dir, c);
}

// Sums over a step's samples: per-sample loss, correct top-1 predictions, labelled predictions
// (per token for sequences). This rank's until all-reduced.
struct StepTotals {
  double loss = 0, correct = 0, labelled = 0;
};

std::string epoch_summary(const EpochStats& st) {
  return fmt::format("loss {:.4f}{}{}{} lr {:.2e}, {:.0f} samples/s", st.train_loss,
                     st.train_accuracy ? fmt::format(" acc {:.2f}%", 100 * *st.train_accuracy) : "",
                     st.eval_accuracy ? fmt::format(" eval {:.2f}%", 100 * *st.eval_accuracy) : "",
                     st.eval_perplexity ? fmt::format(" perplexity {:.3f}", *st.eval_perplexity) : "", st.lr,
                     st.samples_per_second);
}

// The epochs, once everything is set up: each shuffles, steps through its batches, writes the
// trained values back into the student, checkpoints and evaluates.
struct EpochRunner {
  Model& student;
  const Dataset& data;
  const TrainOptions& o;
  Communicator& comm;
  Executor& exec;                                    // the student, in training mode
  const std::vector<std::string>& student_values;
  size_t outputs;                                    // leading student_values that are matched outputs
  std::optional<TeacherTargets>& targets;            // engaged when distilling
  const std::vector<FeatureProjection>& projections;
  TrainingState& state;
  const nlohmann::json& settings;                    // stored in every checkpoint
  const Dataset& eval_shard;                         // this rank's share of o.eval
  int64_t steps_per_epoch = 0, total_steps = 0;

  EpochStats run_epoch();
  StepTotals step(const at::Tensor& perm, int64_t begin, int64_t global_n, double lr);
  StepTotals forward_backward(const at::Tensor& idx, int64_t global_n);
  StepTotals update_parameters(const StepTotals& local, double lr);
  void evaluate_epoch(EpochStats& st);
};

EpochStats EpochRunner::run_epoch() {
  const auto t0 = Clock::now();
  const int64_t n = data.samples;
  const at::Tensor perm = permutation(n, state.rng);
  Progress progress(fmt::format("epoch {}/{}", state.epoch + 1, o.epochs), steps_per_epoch, o.quiet || comm.rank() != 0);
  StepTotals totals;
  double lr = 0;
  for (int64_t b = 0; b < steps_per_epoch; ++b, ++state.step) {
    const int64_t begin = b * o.batch_size, global_n = std::min(o.batch_size, n - begin);
    lr = learning_rate(o.schedule, state.step, total_steps);
    const StepTotals s = step(perm, begin, global_n, lr);
    totals.loss += s.loss, totals.correct += s.correct, totals.labelled += s.labelled;
    const double seen = static_cast<double>(begin + global_n);
    const double accuracy = totals.labelled > 0 ? 100 * totals.correct / totals.labelled : 0;
    progress.update(b + 1, totals.labelled > 0 ? fmt::format("loss {:.4f} acc {:.2f}%", totals.loss / seen, accuracy)
                                               : fmt::format("loss {:.4f}", totals.loss / seen));
  }
  const double train_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ++state.epoch;
  write_back(student, state.params);
  if (!o.work_dir.empty() && comm.rank() == 0) save_training_checkpoint(o.work_dir, settings, state);

  EpochStats st;
  st.epoch = state.epoch;
  st.epochs = o.epochs;
  st.train_loss = totals.loss / static_cast<double>(n);
  if (totals.labelled > 0) st.train_accuracy = totals.correct / totals.labelled;
  st.lr = lr;
  st.samples_per_second = static_cast<double>(n) / train_seconds;
  if (o.eval && o.eval->has_labels()) evaluate_epoch(st);
  st.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  progress.finish(epoch_summary(st));
  if (o.on_epoch) o.on_epoch(st);
  return st;
}

// One optimizer step on the global batch perm[begin, begin + global_n): this rank's share
// forward and backward, then the update. Returns the batch's totals over all ranks.
StepTotals EpochRunner::step(const at::Tensor& perm, int64_t begin, int64_t global_n, double lr) {
  auto [offset, local_n] = shard(global_n, comm.rank(), comm.world_size());
  state.optimizer.zero_grad();
  StepTotals local;
  if (local_n > 0) local = forward_backward(perm.narrow(0, begin + offset, local_n), global_n);
  return update_parameters(local, lr);
}

// Accumulates into the parameters' gradients the loss of the samples `idx`, divided by the
// global batch size (see trainer.h).
StepTotals EpochRunner::forward_backward(const at::Tensor& idx, int64_t global_n) {
  std::map<std::string, at::Tensor> feeds;
  for (const auto& [name, t] : data.inputs) feeds[name] = t.index_select(0, idx);
  const at::Tensor labels = data.has_labels() ? data.labels.index_select(0, idx) : at::Tensor();
  auto s = run_values(exec, feeds, student_values);
  std::vector<at::Tensor> t;
  if (targets) {
    at::NoGradGuard no_grad;
    t = targets->get(idx, feeds);
  }
  const bool match = o.output_loss == TrainOptions::OutputLoss::Outputs;
  at::Tensor per_sample;
  if (match) {
    per_sample = output_match_loss(s[0], t[0]);
    for (size_t i = 1; i < outputs; ++i) per_sample = per_sample + output_match_loss(s[i], t[i]);
  } else {
    per_sample = targets ? distill_loss(s[0], t[0], labels, o.alpha, o.temperature) : cross_entropy(s[0], labels);
  }
  for (size_t i = 0; i < projections.size(); ++i)
    per_sample = per_sample + feature_mse(projections[i](s[i + outputs]), t[i + outputs]) * o.feature_weight;
  const at::Tensor loss = per_sample.sum() / static_cast<double>(global_n);
  loss.backward();
  StepTotals totals;
  totals.loss = per_sample.detach().sum().item<double>();
  if (labels.defined() && !match) {
    totals.correct = static_cast<double>(correct_top1(s[0], labels));
    totals.labelled = static_cast<double>(labels.numel());
  }
  return totals;
}

// Masks the gradients (pruned weights get none), sums gradients and totals over the ranks, steps
// the optimizer at `lr` and re-masks the weights. Returns the totals over all ranks.
StepTotals EpochRunner::update_parameters(const StepTotals& local, double lr) {
  at::NoGradGuard no_grad;
  Parameters& params = state.params;
  for (size_t i = 0; i < params.tensors.size(); ++i) {
    at::Tensor& p = params.tensors[i];
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    if (params.masks[i].defined()) p.mutable_grad().mul_(params.masks[i]);
  }
  StepTotals global = local;
  if (comm.world_size() > 1) {
    // One all-reduce per step: every gradient and the step's totals together.
    std::vector<at::Tensor> sums;
    for (const at::Tensor& p : params.tensors) sums.push_back(p.grad());
    sums.push_back(at::tensor(std::vector<double>{local.loss, local.correct, local.labelled}, at::kDouble));
    comm.all_reduce_sum(sums);
    const at::Tensor& reduced = sums.back();
    global = {reduced[0].item<double>(), reduced[1].item<double>(), reduced[2].item<double>()};
  }
  state.optimizer.step(lr);
  for (size_t i = 0; i < params.tensors.size(); ++i)
    if (params.masks[i].defined()) params.tensors[i].mul_(params.masks[i]);
  return global;
}

// Top-1 accuracy (and perplexity, for per-token labels) of the student on o.eval: each rank
// evaluates its shard and the counts are summed over the ranks.
void EpochRunner::evaluate_epoch(EpochStats& st) {
  double hits[3] = {0, 0, 0};  // correct, predictions (samples, or tokens), summed token cross-entropy
  if (eval_shard.samples > 0) {
    EvalOptions eo;
    eo.batch_size = o.eval_batch_size;
    const EvalResult r = evaluate(student, eval_shard, eo);
    const double predictions = static_cast<double>(r.language_model ? r.language_model->tokens : r.samples);
    hits[0] = r.accuracy.value_or(0) * predictions;
    hits[1] = predictions;
    if (r.language_model) hits[2] = r.language_model->cross_entropy * predictions;
  }
  std::vector<at::Tensor> sums{at::tensor(std::vector<double>(hits, hits + 3), at::kDouble)};
  comm.all_reduce_sum(sums);
  const double predictions = std::max(1.0, sums[0][1].item<double>());
  st.eval_accuracy = sums[0][0].item<double>() / predictions;
  if (o.eval->labels.dim() == 2) st.eval_perplexity = std::exp(sums[0][2].item<double>() / predictions);
}

}  // namespace

bool float_value(const ValueInfo& v) {
  // onnx::TensorProto_DataType: FLOAT 1, FLOAT16 10, DOUBLE 11, BFLOAT16 16; 0 = not known.
  return v.elem_type == 0 || v.elem_type == 1 || v.elem_type == 10 || v.elem_type == 11 || v.elem_type == 16;
}

TrainResult train(Model& student, const Dataset& data, const TrainOptions& o, const Model* teacher) {
  std::unique_ptr<Communicator> own;
  Communicator* comm = o.comm;
  if (!comm) comm = (own = Communicator::single()).get();
  check_training_inputs(student, data, o, teacher);

  TrainResult result;
  result.trained = o.trainable.empty() ? trainable_initializers(student) : o.trainable;
  Parameters params = make_parameters(student, result.trained, o.masks);
  const StepValues values = step_values(student, o, teacher);
  Executor exec(student);
  const std::vector<FeatureProjection> projections = feature_projections(exec, teacher, data, o, values, params);
  start_from_rank_zero(params, *comm);
  exec.set_training(params.initializers);
  TrainingState state(std::move(params), o.optimizer, o.seed);

  const nlohmann::json settings = settings_of(student, data, o, teacher, result.trained);
  if (o.resume && !o.work_dir.empty() && resume_from_checkpoint(o.work_dir, settings, state))
    result.resumed_from_epoch = state.epoch;

  std::optional<TeacherTargets> targets;
  if (teacher)
    targets.emplace(*teacher, values.teacher, data, o.cache_teacher, o.work_dir, o.eval_batch_size, *comm);
  const Dataset eval_shard = o.eval ? shard_of(*o.eval, comm->rank(), comm->world_size()) : Dataset{};

  const int64_t steps_per_epoch = (data.samples + o.batch_size - 1) / o.batch_size;
  EpochRunner runner{student, data, o, *comm, exec, values.student, values.outputs, targets, projections, state, settings, eval_shard,
                     steps_per_epoch, steps_per_epoch * o.epochs};
  while (state.epoch < o.epochs) result.epochs.push_back(runner.run_epoch());
  if (!result.epochs.empty()) {
    result.eval_accuracy = result.epochs.back().eval_accuracy;
    result.eval_perplexity = result.epochs.back().eval_perplexity;
  }
  result.steps = state.step;
  write_back(student, state.params);
  return result;
}

}  // namespace edgepack::distill
