// The training engine (distill/): gradients through our executor against ATen autograd on the
// same computation, losses against hand-computed values, training to a stated accuracy, masks,
// resume after SIGKILL, and data parallel over c10d Gloo (2 ranks vs 1 on MNIST; a dead rank).
// Subprocess cases re-run this binary on the hidden "trainer worker" case, configured by the
// EDGEPACK_TRAINER_WORKER environment variable (JSON), so no extra binary or CLI entry is needed.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "core/dataset.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/executor.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "distill/checkpoint.h"
#include "distill/data_parallel.h"
#include "distill/losses.h"
#include "distill/schedule.h"
#include "distill/finetune.h"
#include "distill/trainer.h"
#include "passes/prune.h"
#include "tests/helpers.h"
#include "tests/net_builder.h"

using namespace edgepack;
using namespace edgepack::test;
using namespace edgepack::distill;

namespace {

const fs::path kMnist = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";
const char* kWorkerEnv = "EDGEPACK_TRAINER_WORKER";


// input [N, dims...] -> (Flatten) -> Gemm(hidden) -> Relu -> Gemm(classes) -> logits, seeded
// like torch.nn.Linear.
Model mlp(const std::string& input, std::vector<int64_t> dims, int64_t hidden, int64_t classes, uint64_t seed) {
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  std::vector<Dim> shape{Dim{-1, "N"}};
  int64_t features = 1;
  for (int64_t d : dims) shape.push_back(Dim{d, ""}), features *= d;
  g.inputs.push_back(float_value(input, shape));
  g.outputs.push_back(float_value("logits", {Dim{-1, "N"}, Dim{classes, ""}}));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    g.initializers[name + ".weight"] = at::empty({out, in}).uniform_(-bound, bound, gen);
    g.initializers[name + ".bias"] = at::empty({out}).uniform_(-bound, bound, gen);
  };
  linear("fc1", features, hidden);
  linear("fc2", hidden, classes);
  std::string x = input;
  if (dims.size() > 1) {
    g.nodes.push_back(make_node("Flatten", {x}, "flat"));
    x = "flat";
  }
  Node fc1 = make_node("Gemm", {x, "fc1.weight", "fc1.bias"}, "fc1");
  fc1.attrs["transB"] = Attribute::of_int(1);
  Node fc2 = make_node("Gemm", {"relu", "fc2.weight", "fc2.bias"}, "logits");
  fc2.attrs["transB"] = Attribute::of_int(1);
  g.nodes.insert(g.nodes.end(), {fc1, make_node("Relu", {"fc1"}, "relu"), fc2});
  return m;
}

// `classes` Gaussian blobs in `dims` dimensions (centres from `seed`, unit noise from
// `noise_seed`: the same task with held-out samples for another noise seed).
Dataset blobs(int64_t samples, int64_t dims, int64_t classes, uint64_t seed, uint64_t noise_seed) {
  auto centre_gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(noise_seed);
  const at::Tensor centres = at::empty({classes, dims}).normal_(0, 3, centre_gen);
  Dataset d;
  d.source = "blobs";
  d.samples = samples;
  d.labels = at::arange(samples, at::kLong) % classes;
  d.inputs["x"] = centres.index_select(0, d.labels) + at::empty({samples, dims}).normal_(0, 1, gen);
  return d;
}

// --- subprocesses ---

pid_t spawn(const nlohmann::json& config, const fs::path& log, const std::map<std::string, std::string>& env = {}) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv(kWorkerEnv, config.dump().c_str(), 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1), ::dup2(fd, 2);
    ::execl("/proc/self/exe", "edgepack_tests", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<std::string, at::Tensor> read_result(const fs::path& p) {
  auto arrays = read_npz(p.string());
  return {arrays.begin(), arrays.end()};
}

// The synthetic task every subprocess test trains: 4 blobs in 16-D, MLP 16-128-4.
TrainOptions blob_options(int64_t epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 16;
  o.seed = 7;
  o.schedule.base_lr = 3e-3;
  o.schedule.warmup_steps = 20;
  o.optimizer.weight_decay = 1e-4;
  o.quiet = true;
  return o;
}

}  // namespace

TEST_SUITE("trainer") {

// The subprocess the cases below start (tests/test_main.cpp runs it instead of the tests when
// kWorkerEnv is set): one rank of a training run, its result written to config["out"].
int trainer_worker(const char* config_text) {
  const auto config = nlohmann::json::parse(config_text);
  set_threads(config.value("threads", 1));
  std::unique_ptr<Communicator> comm = Communicator::single();
  if (auto d = distributed_from_env()) comm = Communicator::connect(*d);
  const std::string task = config.at("task");
  const int die_rank = config.value("die_rank", -1);
  Model student, teacher;
  Dataset train_data, eval_data;
  TrainOptions o;
  if (task == "blobs") {
    student = mlp("x", {16}, 128, 4, 3);
    train_data = blobs(6000, 16, 4, 11, 1);
    eval_data = blobs(1000, 16, 4, 11, 2);
    o = blob_options(config.at("epochs"));
  } else {
    teacher = import_onnx((kMnist / "teacher.onnx").string());
    student = mlp("input", {1, 28, 28}, 64, 10, 5);
    train_data = load_dataset((kMnist / "train.npz").string(), teacher, DatasetOptions{config.value("limit", 0)});
    eval_data = load_dataset((kMnist / "test.npz").string(), teacher);
    o.epochs = config.at("epochs");
    o.batch_size = 64;
    o.seed = 3;
    o.schedule.base_lr = 5e-3;
    o.schedule.warmup_steps = 50;
    o.alpha = 0.5;
    o.temperature = 2;
    o.quiet = true;
  }
  o.eval = &eval_data;
  o.comm = comm.get();
  o.work_dir = config.value("work", "");
  o.resume = config.value("resume", false);
  o.on_epoch = [&](const EpochStats& s) {
    if (comm->rank() == die_rank && s.epoch == 1) ::_exit(3);
  };
  TrainResult r = train(student, train_data, o, task == "mnist" ? &teacher : nullptr);
  if (comm->rank() != 0) return 0;
  NamedArrays out;
  for (const auto& name : r.trained) out.emplace_back("param/" + name, student.graph.initializers.at(name));
  out.emplace_back("accuracy", at::tensor(std::vector<double>{r.eval_accuracy.value_or(-1)}, at::kDouble));
  out.emplace_back("resumed_from", at::tensor(std::vector<int64_t>{r.resumed_from_epoch}, at::kLong));
  write_npz(config.at("out").get<std::string>(), out);
  return 0;
}
[[maybe_unused]] const bool kWorkerRegistered = register_subprocess_entry(kWorkerEnv, &trainer_worker);

TEST_CASE("executor training mode: gradients equal ATen autograd on the same network") {
  // x[2,3,6,6] -> Conv 3x3 pad 1 -> BatchNorm -> Relu -> {MaxPool 2 -> Flatten, GlobalAveragePool
  // -> Flatten} -> Concat -> Gemm(transB) -> Relu -> MatMul -> Add -> Mul -> Softmax
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  auto r = [&](std::vector<int64_t> s) { return at::empty(s).normal_(0, 0.5, gen); };
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.inputs.push_back(float_value("x", {Dim{2, ""}, Dim{3, ""}, Dim{6, ""}, Dim{6, ""}}));
  g.outputs.push_back(float_value("y", {Dim{2, ""}, Dim{5, ""}}));
  g.initializers = {{"cw", r({4, 3, 3, 3})}, {"cb", r({4})},        {"s", r({4}) + 1},   {"b", r({4})},
                    {"m", r({4})},           {"v", r({4}).abs() + 0.5}, {"gw", r({6, 40})}, {"gb", r({6})},
                    {"mw", r({6, 5})},       {"ab", r({5})},         {"mm", r({5})}};
  Node conv = make_node("Conv", {"x", "cw", "cb"}, "c");
  conv.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
  conv.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  Node pool = make_node("MaxPool", {"r"}, "p");
  pool.attrs["kernel_shape"] = Attribute::of_ints({2, 2});
  pool.attrs["strides"] = Attribute::of_ints({2, 2});
  Node cat = make_node("Concat", {"pf", "gf"}, "cat");
  cat.attrs["axis"] = Attribute::of_int(1);
  Node gemm = make_node("Gemm", {"cat", "gw", "gb"}, "gm");
  gemm.attrs["transB"] = Attribute::of_int(1);
  g.nodes = {conv, make_node("BatchNormalization", {"c", "s", "b", "m", "v"}, "bn"), make_node("Relu", {"bn"}, "r"), pool,
             make_node("Flatten", {"p"}, "pf"), make_node("GlobalAveragePool", {"r"}, "ga"), make_node("Flatten", {"ga"}, "gf"), cat,
             gemm, make_node("Relu", {"gm"}, "gr"), make_node("MatMul", {"gr", "mw"}, "mmo"), make_node("Add", {"mmo", "ab"}, "ad"),
             make_node("Mul", {"ad", "mm"}, "mu"), make_node("Softmax", {"mu"}, "y")};
  const at::Tensor x = r({2, 3, 6, 6}), probe = r({2, 5});

  const std::vector<std::string> names = trainable_initializers(m);
  CHECK(names == std::vector<std::string>{"ab", "b", "cb", "cw", "gb", "gw", "mm", "mw", "s"});
  std::map<std::string, at::Tensor> ours, ref;
  for (const auto& [k, t] : g.initializers) ref[k] = t.clone().set_requires_grad(k != "m" && k != "v");
  for (const auto& k : names) ours[k] = g.initializers[k].clone().set_requires_grad(true);

  Executor exec(m);
  const at::Tensor before = exec.run(std::map<std::string, at::Tensor>{{"x", x}}).at("y");
  CHECK_FALSE(before.requires_grad());
  exec.set_training(ours);
  (exec.run(std::map<std::string, at::Tensor>{{"x", x}}).at("y") * probe).sum().backward();

  at::Tensor h = at::relu(at::batch_norm(at::conv2d(x, ref["cw"], ref["cb"], 1, 1), ref["s"], ref["b"], ref["m"],
                                         ref["v"], false, 0, 1e-5, false));
  at::Tensor f = at::cat({at::max_pool2d(h, {2, 2}, {2, 2}).flatten(1), h.mean({2, 3})}, 1);
  at::Tensor y = at::softmax((at::matmul(at::relu(at::addmm(ref["gb"], f, ref["gw"].t())), ref["mw"]) + ref["ab"]) * ref["mm"], 1);
  (y * probe).sum().backward();
  for (const auto& k : names) {
    CAPTURE(k);
    std::string why;
    // Same float32 kernels in the same order: agreement to rounding (observed max ~1e-7).
    CHECK_MESSAGE(all_close(ours[k].grad(), ref[k].grad(), 1e-4, 1e-6, &why), why);
    CHECK(ours[k].grad().abs().sum().item<double>() > 0);
  }
  // The model was not touched, and inference mode is back to no autograd.
  for (const auto& k : names) CHECK_FALSE(g.initializers[k].requires_grad());
  exec.set_inference();
  const at::Tensor after = exec.run(std::map<std::string, at::Tensor>{{"x", x}}).at("y");
  CHECK_FALSE(after.requires_grad());
  CHECK(at::equal(before, after));
  CHECK_THROWS_AS(exec.set_training({{"nope", at::zeros({1})}}), InputError);
  CHECK_THROWS_AS(exec.set_training({{"cb", at::zeros({3})}}), InputError);
}

TEST_CASE("KD and CE losses against hand-computed values") {
  const at::Tensor s = at::tensor(std::vector<float>{1, 2, 0, 0}).reshape({2, 2});
  const at::Tensor t = at::tensor(std::vector<float>{2, 0, 0, 0}).reshape({2, 2});
  const at::Tensor labels = at::tensor(std::vector<int64_t>{1, 0});
  const double T = 2;
  // Row 0: p_t = softmax([1, 0]), p_s = softmax([0.5, 1]); row 1: both uniform, KL = 0.
  const double pt0 = std::exp(1.0) / (std::exp(1.0) + 1), pt1 = 1 - pt0;
  const double ps0 = std::exp(0.5) / (std::exp(0.5) + std::exp(1.0)), ps1 = 1 - ps0;
  const double kl = pt0 * std::log(pt0 / ps0) + pt1 * std::log(pt1 / ps1);
  const at::Tensor kd = kd_loss(s, t, T);
  CHECK(kd[0].item<double>() == doctest::Approx(T * T * kl).epsilon(1e-6));
  CHECK(kd[1].item<double>() == doctest::Approx(0).epsilon(1e-7));
  const double ce0 = -std::log(std::exp(2.0) / (std::exp(1.0) + std::exp(2.0))), ce1 = std::log(2.0);
  const at::Tensor ce = cross_entropy(s, labels);
  CHECK(ce[0].item<double>() == doctest::Approx(ce0).epsilon(1e-6));
  CHECK(ce[1].item<double>() == doctest::Approx(ce1).epsilon(1e-6));
  const at::Tensor mix = distill_loss(s, t, labels, 0.3, T);
  CHECK(mix[0].item<double>() == doctest::Approx(0.3 * ce0 + 0.7 * T * T * kl).epsilon(1e-6));
  CHECK(at::equal(distill_loss(s, at::Tensor(), labels, 0.3, T), ce));
  // [N, C, 1, 1] logits count as [N, C].
  CHECK(at::allclose(kd_loss(s.reshape({2, 2, 1, 1}), t, T), kd));
  CHECK_THROWS_AS(kd_loss(s, t.narrow(1, 0, 1), T), InputError);

  // Feature matching: MSE per sample, through a projection when widths differ.
  const at::Tensor a = at::tensor(std::vector<float>{1, 2, 3, 4}).reshape({2, 2});
  CHECK(feature_mse(a, at::zeros({2, 2}))[1].item<double>() == doctest::Approx(12.5));
  FeatureProjection same(3, 3, 4, 1), wider(3, 5, 4, 1), dense(3, 5, 2, 1);
  CHECK(same.identity());
  CHECK(wider(at::ones({2, 3, 4, 4})).sizes() == at::IntArrayRef{2, 5, 4, 4});
  CHECK(dense(at::ones({2, 3})).sizes() == at::IntArrayRef{2, 5});
  CHECK(wider.parameters().size() == 2);
}

TEST_CASE("output matching: the noise-to-signal ratio per sample, against hand-computed values") {
  const at::Tensor s = at::tensor(std::vector<float>{1, 2, 0, 0, 3, 3}).reshape({3, 2});
  const at::Tensor t = at::tensor(std::vector<float>{2, 0, 0, 0, 3, 3}).reshape({3, 2});
  const at::Tensor r = output_match_loss(s, t);
  // Row 0: mean (s - t)^2 = (1 + 4) / 2, mean t^2 = 4 / 2. Row 1: both zero. Row 2: equal.
  CHECK(r[0].item<double>() == doctest::Approx(2.5 / (2 + kMatchPowerFloor)).epsilon(1e-6));
  CHECK(r[1].item<double>() == 0);
  CHECK(r[2].item<double>() == 0);
  // The same on any shape: a [N, 1, H, W] map is flattened per sample.
  CHECK(at::allclose(output_match_loss(s.reshape({3, 1, 2, 1}), t.reshape({3, 1, 2, 1})), r));
  CHECK_THROWS_AS(output_match_loss(s, t.narrow(1, 0, 1)), InputError);
}

TEST_CASE("label-free recovery of a probability map: finetune matches the original's outputs and raises the SQNR") {
  // conv -> relu -> conv -> relu -> conv(1) -> sigmoid: a [N, 1, 8, 8] map, nothing to take a
  // softmax over, no labels.
  test::Net n(3, 5);
  auto a = n.op("Relu", {n.conv("X", 16, "c1")}, "r1");
  auto b = n.op("Relu", {n.conv(a, 16, "c2")}, "r2");
  const Model teacher = n.output(n.op("Sigmoid", {n.conv(b, 1, "c3")}, "map"));
  CHECK_FALSE(distill::score_output(teacher));
  Model student = teacher;
  PruneSettings half;
  half.ratio = 0.5;
  PassContext ctx;
  prune(student, half, ctx);
  at::manual_seed(11);
  auto make = [](int64_t n) {
    Dataset d;
    d.inputs["X"] = at::randn({n, 3, 8, 8});
    d.samples = n;
    return d;
  };
  const Dataset train_set = make(128), held_out = make(64);
  EvalOptions vs_teacher;
  vs_teacher.reference = &teacher;
  const double before = evaluate(student, held_out, vs_teacher).agreement->sqnr_db;
  distill::FinetuneSettings f;
  f.epochs = 15;
  f.batch_size = 16;
  f.lr = 3e-3;
  const TrainResult r = distill::finetune(student, teacher, train_set, f, nullptr, true);
  const double after = evaluate(student, held_out, vs_teacher).agreement->sqnr_db;
  MESSAGE(fmt::format("held-out SQNR against the original: pruned {:.2f} dB, recovered {:.2f} dB", before, after));
  // The training loss is the mean noise-to-signal ratio: it falls, and the held-out SQNR (the
  // same quantity over all samples at once) rises by at least 3 dB, i.e. the noise halves.
  CHECK(r.epochs.back().train_loss < 0.5 * r.epochs.front().train_loss);
  CHECK(after > before + 3);
  CHECK(student.graph.initializers.at("c1.w").size(0) == 8);   // still pruned

  // Matching needs a float output: an index output gives one clear error.
  Model indices = teacher;
  indices.graph.outputs[0].elem_type = 7;
  TrainOptions o;
  o.output_loss = TrainOptions::OutputLoss::Outputs;
  o.alpha = 0;
  CHECK_THROWS_WITH_AS(train(student, train_set, o, &indices), doctest::Contains("no floating-point output"), InputError);
}

TEST_CASE("an LSTM trains: W, R and B are parameters, and matching a teacher LSTM lowers the loss") {
  at::manual_seed(12);
  auto lstm = [](double scale) {
    Model m;
    m.opsets[""] = 14;
    // layout=1: [N, T, I] in, [N, T, dirs, H] out, so dim 0 is the sample.
    ValueInfo x{"X", 1, std::vector<Dim>{Dim{-1, "N"}, Dim{6, ""}, Dim{4, ""}}};
    ValueInfo y{"Y", 1, std::vector<Dim>{Dim{-1, "N"}, Dim{6, ""}, Dim{1, ""}, Dim{8, ""}}};
    m.graph.inputs.push_back(x);
    m.graph.outputs.push_back(y);
    m.graph.initializers["W"] = at::randn({1, 32, 4}) * scale;
    m.graph.initializers["R"] = at::randn({1, 32, 8}) * scale;
    m.graph.initializers["B"] = at::zeros({1, 64});
    Node n;
    n.op_type = "LSTM", n.name = "lstm", n.inputs = {"X", "W", "R", "B"}, n.outputs = {"Y"};
    n.attrs["hidden_size"] = Attribute::of_int(8);
    n.attrs["layout"] = Attribute::of_int(1);
    m.graph.nodes.push_back(n);
    return m;
  };
  const Model teacher = lstm(0.5);
  Model student = lstm(0.5);
  CHECK(trainable_initializers(student) == std::vector<std::string>{"B", "R", "W"});
  Dataset d;
  d.inputs["X"] = at::randn({32, 6, 4});
  d.samples = 32;
  TrainOptions o;
  o.output_loss = TrainOptions::OutputLoss::Outputs;
  o.alpha = 0;
  o.epochs = 20;
  o.batch_size = 8;
  o.schedule.base_lr = 1e-2;
  o.quiet = true;
  const TrainResult r = train(student, d, o, &teacher);
  CHECK(r.trained == std::vector<std::string>{"B", "R", "W"});
  CHECK(r.epochs.back().train_loss < 0.5 * r.epochs.front().train_loss);
}

TEST_CASE("cosine schedule with linear warm-up") {
  ScheduleOptions s{1.0, 0.1, 10};
  CHECK(learning_rate(s, 0, 110) == doctest::Approx(0.1));
  CHECK(learning_rate(s, 9, 110) == doctest::Approx(1.0));
  CHECK(learning_rate(s, 60, 110) == doctest::Approx(0.55));
  CHECK(learning_rate(s, 110, 110) == doctest::Approx(0.1));
}

TEST_CASE("training an MLP on blobs: AdamW and SGD reach 95%, masks keep pruned weights at zero") {
  set_threads(1);
  const Dataset train_data = blobs(2000, 16, 4, 11, 1), eval_data = blobs(500, 16, 4, 11, 2);
  for (const auto kind : {OptimizerOptions::Kind::AdamW, OptimizerOptions::Kind::SGD}) {
    const bool sgd = kind == OptimizerOptions::Kind::SGD;
    CAPTURE(sgd);
    Model m = mlp("x", {16}, 32, 4, 1);
    const double before = evaluate(m, eval_data).accuracy.value();
    TrainOptions o;
    o.epochs = 3;
    o.batch_size = 32;
    o.optimizer.kind = kind;
    o.schedule.base_lr = sgd ? 0.05 : 3e-3;
    o.schedule.warmup_steps = 10;
    o.eval = &eval_data;
    o.quiet = true;
    // Half of fc1's weights pruned (a checkerboard), as unstructured pruning hands them over.
    const at::Tensor mask = (at::arange(32 * 16).reshape({32, 16}) % 2).to(at::kFloat);
    o.masks["fc1.weight"] = mask;
    int epochs_seen = 0;
    o.on_epoch = [&](const EpochStats& s) {
      ++epochs_seen;
      CHECK(s.epoch == epochs_seen);
    };
    TrainResult r = train(m, train_data, o);
    MESSAGE(fmt::format("{}: eval top-1 {:.1f}% -> {:.1f}%", sgd ? "SGD" : "AdamW", 100 * before, 100 * *r.eval_accuracy));
    CHECK(epochs_seen == 3);
    CHECK(r.steps == 3 * 63);
    CHECK(*r.eval_accuracy >= 0.95);
    CHECK(evaluate(m, eval_data).accuracy.value() == doctest::Approx(*r.eval_accuracy));
    const at::Tensor w = m.graph.initializers.at("fc1.weight");
    CHECK(w.masked_select(mask == 0).abs().max().item<double>() == 0);
    CHECK(w.masked_select(mask != 0).ne(0).all().item<bool>());
    CHECK_FALSE(w.requires_grad());
  }
}

TEST_CASE("distillation with feature matching through a projection; unknown values are refused") {
  set_threads(1);
  const Dataset train_data = blobs(512, 16, 4, 11, 1);
  const Model teacher = mlp("x", {16}, 48, 4, 9);
  Model student = mlp("x", {16}, 32, 4, 1);
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 64;
  o.quiet = true;
  o.features = {{"relu", "relu"}};
  o.cache_teacher = true;
  TrainResult r = train(student, train_data, o, &teacher);
  CHECK(r.epochs.size() == 1);
  CHECK(std::isfinite(r.epochs[0].train_loss));
  o.features = {{"relu", "nope"}};
  CHECK_THROWS_AS(train(student, train_data, o, &teacher), InputError);
}

TEST_CASE("resume after SIGKILL ends bitwise equal to an uninterrupted run") {
  TempDir tmp;
  const nlohmann::json base{{"task", "blobs"}, {"epochs", 5}};
  // Uninterrupted reference.
  nlohmann::json ref = base;
  ref["work"] = (tmp / "ref").string(), ref["out"] = (tmp / "ref.npz").string();
  const pid_t ref_pid = spawn(ref, tmp / "ref.log");
  // The killed run: SIGKILL as soon as the first checkpoint exists (mid-way through epoch 2).
  nlohmann::json run = base;
  run["work"] = (tmp / "run").string(), run["out"] = (tmp / "run.npz").string();
  const pid_t pid = spawn(run, tmp / "run.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(checkpoint_path(run["work"])) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGKILL);
  const int killed = wait_for(pid);
  CHECK(WIFSIGNALED(killed));
  CHECK_FALSE(fs::exists(run["out"].get<std::string>()));
  const auto saved = load_checkpoint(run["work"]);
  REQUIRE(saved);
  MESSAGE(fmt::format("killed after checkpoint of epoch {} of 5", saved->epoch));
  CHECK(saved->epoch < 5);

  run["resume"] = true;
  const int resumed = wait_for(spawn(run, tmp / "resume.log"));
  REQUIRE_MESSAGE((WIFEXITED(resumed) && WEXITSTATUS(resumed) == 0), slurp(tmp / "resume.log"));
  const int reference = wait_for(ref_pid);
  REQUIRE_MESSAGE((WIFEXITED(reference) && WEXITSTATUS(reference) == 0), slurp(tmp / "ref.log"));
  auto a = read_result(tmp / "run.npz"), b = read_result(tmp / "ref.npz");
  CHECK(a.at("resumed_from").item<int64_t>() == saved->epoch);
  CHECK(b.at("resumed_from").item<int64_t>() == 0);
  CHECK(a.at("accuracy").item<double>() >= 0.95);
  CHECK(a.at("accuracy").item<double>() == b.at("accuracy").item<double>());
  for (const auto& [name, t] : b) {
    if (name == "resumed_from") continue;
    CAPTURE(name);
    CHECK(at::equal(a.at(name), t));  // bitwise, same thread count
  }

  // Resuming with other settings is refused.
  run["epochs"] = 6;
  run["out"] = (tmp / "other.npz").string();
  const int other = wait_for(spawn(run, tmp / "other.log"));
  CHECK(WEXITSTATUS(other) != 0);
  CHECK(slurp(tmp / "other.log").find("other settings") != std::string::npos);
}

TEST_CASE("data parallel: a rank that dies makes the other exit with a clear error") {
  TempDir tmp;
  const std::string port = std::to_string(20000 + ::getpid() % 20000);
  nlohmann::json cfg{{"task", "blobs"}, {"epochs", 3}, {"die_rank", 1}, {"out", (tmp / "out.npz").string()}};
  std::map<std::string, std::string> env{{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port},
                                         {"EDGEPACK_DIST_TIMEOUT", "20"}};
  env["RANK"] = "0";
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t r0 = spawn(cfg, tmp / "rank0.log", env);
  env["RANK"] = "1";
  const pid_t r1 = spawn(cfg, tmp / "rank1.log", env);
  const int s1 = wait_for(r1), s0 = wait_for(r0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(WEXITSTATUS(s1) == 3);
  CHECK(WIFEXITED(s0));
  CHECK(WEXITSTATUS(s0) != 0);
  const std::string log = slurp(tmp / "rank0.log");
  MESSAGE(fmt::format("rank 0 gave up after {:.1f} s", secs));
  CHECK_MESSAGE(log.find("data parallel: rank 0 of 2:") != std::string::npos, log);
  CHECK(secs < 30);

  // The local launcher stops the other ranks and names the one that failed.
  try {
    launch_local_ranks(2, {"/bin/sh", "-c", "[ \"$RANK\" = 1 ] && exit 3; sleep 30"});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("rank 1 of 2 failed (exit code 3)") != std::string::npos);
  }
}

}  // TEST_SUITE("trainer")

TEST_SUITE("mnist") {

TEST_CASE("data parallel: 2 ranks reach the accuracy of 1 rank on MNIST (KD from the teacher)") {
  REQUIRE_MESSAGE(fs::exists(kMnist / "teacher.onnx"), "no MNIST teacher: run scripts/make-mnist-teacher.sh");
  TempDir tmp;
  double acc[2] = {0, 0};
  for (int nproc : {1, 2}) {
    const fs::path out = tmp / fmt::format("out{}.npz", nproc);
    nlohmann::json cfg{{"task", "mnist"}, {"epochs", 6}, {"out", out.string()}};
    ::setenv(kWorkerEnv, cfg.dump().c_str(), 1);
    const auto t0 = std::chrono::steady_clock::now();
    launch_local_ranks(nproc, {"/proc/self/exe"});
    ::unsetenv(kWorkerEnv);
    acc[nproc - 1] = read_result(out).at("accuracy").item<double>();
    MESSAGE(fmt::format("{} rank(s): MNIST test top-1 {:.2f}% ({:.1f} s)", nproc, 100 * acc[nproc - 1],
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  }
  CHECK(acc[0] >= 0.92);  // an MLP 784-64-10 on the 8k training digits; the CNN teacher has ~98.9%
  CHECK(std::abs(acc[0] - acc[1]) <= 0.003);
}

}  // TEST_SUITE("mnist")
