// Trainer throughput, in one run on this machine:
//  - our trainer (distill::train: autograd through edgepack's Executor on the IR, our AdamW)
//    vs the same network written as a plain LibTorch torch::nn module trained with
//    torch::optim::AdamW: same data (the first samples of data/mnist/train.npz), batch size,
//    optimizer settings and thread count. Network: the MNIST teacher (data/mnist/teacher.onnx;
//    Conv-BN-Relu-MaxPool x2, Flatten, Gemm 1568->128, Relu, Dropout, Gemm 128->10), both sides
//    starting from its weights.
//    Our trainer keeps BatchNormalization in its inference form and Dropout as the identity
//    (distill/trainer.h), so the torch::nn module is trained in eval() mode: the same
//    arithmetic, gradients and all. The torch::nn module in train() mode (batch statistics,
//    dropout) is printed too, for reference only.
//    Rows: labels only (cross-entropy), and plain KD (teacher forward without grad + student,
//    alpha 0.5, T 4, teacher outputs computed on the fly).
//  - 1 vs 2 ranks of our trainer (distill::launch_local_ranks on loopback, c10d Gloo), same
//    global batch: 1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread.
// Each side takes `--warmup` steps first, then `--repeat` timed blocks of `--steps` steps; the
// blocks of all rows are interleaved so that load from other jobs hits them alike. Figures are
// medians over blocks; "ratio" is torch samples/s / ours (> 1: we are slower).
// usage: bench_trainer [--threads N] [--batch B] [--steps S] [--warmup W] [--repeat R] [--no-ranks]
//   (needs data/mnist from scripts/make-mnist-teacher.sh)
#include <torch/torch.h>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "core/dataset.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/onnx_import.h"
#include "distill/data_parallel.h"
#include "distill/trainer.h"
#include "samples/mnist/mnist_model.h"
#include "bench/bench_cli.h"
#include "tests/helpers.h"

using namespace edgepack;
using namespace edgepack::test;
namespace F = torch::nn::functional;

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The MNIST teacher exactly as the sample trains it.
using mnist_sample::Net;

// A Net holding the ONNX model's weights (to_ir wrote named_parameters/buffers by name).
Net net_from(const Model& m) {
  Net net;
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) item.value().copy_(m.graph.initializers.at(item.key()));
  for (auto& item : net->named_buffers())
    if (item.key().find("num_batches_tracked") == std::string::npos)
      item.value().copy_(m.graph.initializers.at(item.key()));
  return net;
}

Model clone_model(const Model& m) {
  Model c = m;
  for (auto& [_, t] : c.graph.initializers) t = t.clone();
  return c;
}

struct Setup {
  int threads = 2;
  int64_t batch = 64, steps = 50, warmup = 20, repeat = 5;
  double lr = 1e-3, alpha = 0.5, temperature = 4.0;
};

distill::TrainOptions our_options(const Setup& s) {
  distill::TrainOptions o;
  o.epochs = 1;
  o.batch_size = s.batch;
  o.seed = 1;
  o.optimizer.kind = distill::OptimizerOptions::Kind::AdamW;
  o.schedule.base_lr = s.lr;
  o.alpha = s.alpha;
  o.temperature = s.temperature;
  o.quiet = true;
  return o;
}

// One epoch of our trainer over `data` (steps = samples / batch): its samples/s, which covers
// the training steps only (shuffling, feeds, forward, loss, backward, optimizer), not setup.
// `setup_seconds` (optional) gets the rest of the train() call: parameters, executor, settings
// fingerprint (data and model digests), write-back.
double ours(const Model& teacher, const Dataset& data, const Setup& s, bool kd, distill::Communicator* comm = nullptr,
            std::vector<double>* setup_seconds = nullptr) {
  Model student = clone_model(teacher);
  distill::TrainOptions o = our_options(s);
  o.comm = comm;
  const auto t0 = Clock::now();
  const distill::TrainResult r = distill::train(student, data, o, kd ? &teacher : nullptr);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double sps = r.epochs.at(0).samples_per_second;
  if (setup_seconds) setup_seconds->push_back(wall - static_cast<double>(data.samples) / sps);
  return sps;
}

// The plain LibTorch loop doing the same per step: a permutation per block, index_select of the
// batch, zero_grad, forward, loss, backward, AdamW step, and the loss and accuracy read back.
struct TorchSide {
  Net student, teacher;
  std::unique_ptr<torch::optim::AdamW> opt;
  bool train_mode;

  TorchSide(const Model& m, const Setup& s, bool train_mode) : student(net_from(m)), teacher(net_from(m)), train_mode(train_mode) {
    teacher->eval();
    opt = std::make_unique<torch::optim::AdamW>(
        student->parameters(), torch::optim::AdamWOptions(s.lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(0));
  }

  double run(const torch::Tensor& input, const torch::Tensor& labels, int64_t steps, const Setup& s, bool kd) {
    student->train(train_mode);
    const auto t0 = Clock::now();
    const int64_t n = steps * s.batch;
    const auto perm = torch::randperm(n, torch::kLong);
    double loss_sum = 0, correct = 0;
    for (int64_t b = 0; b < steps; ++b) {
      const double lr = 0.5 * s.lr * (1 + std::cos(M_PI * b / steps));
      for (auto& group : opt->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      const auto idx = perm.slice(0, b * s.batch, (b + 1) * s.batch);
      const auto x = input.index_select(0, idx), y = labels.index_select(0, idx);
      opt->zero_grad();
      const auto logits = student->forward(x);
      torch::Tensor loss = F::cross_entropy(logits, y);
      if (kd) {
        torch::Tensor t;
        {
          torch::NoGradGuard no_grad;
          t = teacher->forward(x);
        }
        const double T = s.temperature;
        const auto kl = F::kl_div(F::log_softmax(logits / T, 1), F::log_softmax(t / T, 1),
                                  F::KLDivFuncOptions().reduction(torch::kBatchMean).log_target(true));
        loss = loss * s.alpha + kl * (T * T * (1 - s.alpha));
      }
      loss.backward();
      opt->step();
      loss_sum += loss.item<double>();
      correct += logits.detach().argmax(1).eq(y).sum().item<double>();
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!std::isfinite(loss_sum)) throw edgepack::Error("torch loss is not finite");
    (void)correct;
    return static_cast<double>(n) / secs;
  }
};

Dataset first(const Dataset& d, int64_t count) {
  Dataset s;
  s.source = d.source;
  s.samples = std::min(count, d.samples);
  for (const auto& [name, t] : d.inputs) s.inputs[name] = t.narrow(0, 0, s.samples);
  s.labels = d.labels.narrow(0, 0, s.samples);
  return s;
}

const fs::path kData = fs::path(EDGEPACK_SOURCE_DIR) / "data" / "mnist";

// A rank of the 1-vs-2-ranks measurement (started by launch_local_ranks): warm-up, then
// `repeat` epochs of `steps` global batches; rank 0 writes one samples/s figure per line.
int rank_worker(const Setup& s, const std::string& out_path) {
  set_threads(s.threads);
  auto dist = distill::distributed_from_env();
  if (!dist) throw edgepack::Error("--rank-worker needs WORLD_SIZE (run by launch_local_ranks)");
  auto comm = distill::Communicator::connect(*dist);
  const Model teacher = import_onnx((kData / "teacher.onnx").string());
  const Dataset all = load_dataset((kData / "train.npz").string(), teacher,
                                   DatasetOptions{std::max(s.steps, s.warmup) * s.batch});
  ours(teacher, first(all, s.warmup * s.batch), s, false, comm.get());
  std::vector<double> sps;
  for (int64_t r = 0; r < s.repeat; ++r) sps.push_back(ours(teacher, first(all, s.steps * s.batch), s, false, comm.get()));
  if (comm->rank() == 0) {
    std::ofstream out(out_path);
    for (double v : sps) out << fmt::format("{:.3f}\n", v);
  }
  return 0;
}

std::vector<std::string> worker_argv(const Setup& s, int threads, const std::string& out) {
  return {"/proc/self/exe", "--rank-worker", out, "--threads", std::to_string(threads), "--batch", std::to_string(s.batch),
          "--steps", std::to_string(s.steps), "--warmup", std::to_string(s.warmup), "--repeat", std::to_string(s.repeat)};
}

std::vector<double> read_figures(const fs::path& p) {
  std::ifstream in(p);
  std::vector<double> v;
  for (double x; in >> x;) v.push_back(x);
  return v;
}

std::string load_note() {
  std::ifstream in("/proc/loadavg");
  double l1 = 0, l5 = 0, l15 = 0;
  in >> l1 >> l5 >> l15;
  return fmt::format("load average {:.2f} {:.2f} {:.2f} on {} cores", l1, l5, l15, ::sysconf(_SC_NPROCESSORS_ONLN));
}

}  // namespace

int main(int argc, char** argv) {
  // Passive OpenMP waits: spinning waiters starve the threads they wait for on shared cores
  // (see samples/mnist/train_teacher.cpp). libgomp reads the variable when it loads.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  Setup s;
  std::string worker_out;
  bool ranks = true;
  CLI::App app{"Training speed of our LibTorch trainer vs PyTorch on the MNIST teacher, one and two ranks", "bench_trainer"};
  bool no_ranks = false;
  app.add_option("--threads", s.threads, "Intra-op threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", s.batch, "Samples per step")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--steps", s.steps, "Training steps timed")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", s.warmup, "Untimed steps first")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", s.repeat, "Repetitions")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--rank-worker", worker_out, "(internal) run as a Gloo rank, writing results here");
  app.add_flag("--no-ranks", no_ranks, "Skip the two-rank (Gloo) measurement");
  return edgepack::bench::run_bench(app, argc, argv, [&]() -> int {
    ranks = !no_ranks;
    if (s.threads < 1 || s.batch < 1 || s.steps < 1 || s.warmup < 1 || s.repeat < 1) {
      fmt::print(stderr, "bench_trainer: --threads, --batch, --steps, --warmup and --repeat must be positive\n");
      return 2;
    }
    if (!fs::exists(kData / "teacher.onnx") || !fs::exists(kData / "train.npz")) {
      fmt::print(stderr, "bench_trainer: needs data/mnist/{{teacher.onnx,train.npz}} (scripts/make-mnist-teacher.sh)\n");
      return 2;
    }
    try {
      if (!worker_out.empty()) return rank_worker(s, worker_out);

      set_threads(s.threads);
      torch::manual_seed(1);
      const std::string load_before = load_note();
      const Model teacher = import_onnx((kData / "teacher.onnx").string());
      const Dataset all = load_dataset((kData / "train.npz").string(), teacher,
                                       DatasetOptions{std::max(s.steps, s.warmup) * s.batch});
      const Dataset warm = first(all, s.warmup * s.batch), timed = first(all, s.steps * s.batch);
      const torch::Tensor input = timed.inputs.begin()->second, labels = timed.labels;

      struct Row {
        std::string name;
        std::function<double()> run;
        std::vector<double> sps;
      };
      std::vector<double> setup;  // seconds of each labels-row train() call outside its steps
      TorchSide torch_eval(teacher, s, false), torch_eval_kd(teacher, s, false), torch_train(teacher, s, true);
      std::vector<Row> rows = {
          {"ours (distill::train), labels", [&] { return ours(teacher, timed, s, false, nullptr, &setup); }, {}},
          {"torch::nn eval(), labels", [&] { return torch_eval.run(input, labels, s.steps, s, false); }, {}},
          {"ours (distill::train), KD", [&] { return ours(teacher, timed, s, true); }, {}},
          {"torch::nn eval(), KD", [&] { return torch_eval_kd.run(input, labels, s.steps, s, true); }, {}},
          {"torch::nn train() (batch-stat BN, dropout), labels", [&] { return torch_train.run(input, labels, s.steps, s, false); }, {}},
      };
      // Warm-up: oneDNN primitive caches, allocator, thread pool.
      ours(teacher, warm, s, false);
      ours(teacher, warm, s, true);
      torch_eval.run(warm.inputs.begin()->second, warm.labels, s.warmup, s, false);
      torch_eval_kd.run(warm.inputs.begin()->second, warm.labels, s.warmup, s, true);
      torch_train.run(warm.inputs.begin()->second, warm.labels, s.warmup, s, false);
      for (int64_t r = 0; r < s.repeat; ++r)
        for (Row& row : rows) row.sps.push_back(row.run());

      // Per-block ratios (torch / ours in the same repetition): less sensitive to load drift.
      auto pair_ratio = [&](size_t o, size_t t) {
        std::vector<double> v;
        for (int64_t r = 0; r < s.repeat; ++r) v.push_back(rows[t].sps[r] / rows[o].sps[r]);
        return median(v);
      };
      fmt::print("Trainer throughput, MNIST teacher CNN (207 k params), batch {}, AdamW, {} thread(s), {} samples of "
                 "data/mnist/train.npz;\n{} warm-up steps, then {} blocks of {} steps per row (interleaved), medians\n",
                 s.batch, s.threads, timed.samples, s.warmup, s.repeat, s.steps);
      fmt::print("{:<52} {:>11} {:>9}   {}\n", "trainer", "samples/s", "ms/step", "blocks (samples/s)");
      for (const Row& r : rows) {
        std::vector<std::string> b;
        for (double v : r.sps) b.push_back(fmt::format("{:.0f}", v));
        const double m = median(r.sps);
        fmt::print("{:<52} {:>11.0f} {:>9.2f}   {}\n", r.name, m, 1000.0 * s.batch / m, fmt::join(b, " "));
      }
      fmt::print("overhead (torch::nn eval() samples/s / ours): labels {:.2f}x (per-block median {:.2f}x), "
                 "KD {:.2f}x (per-block {:.2f}x); goal <= 1.2x\n",
                 median(rows[1].sps) / median(rows[0].sps), pair_ratio(0, 1), median(rows[3].sps) / median(rows[2].sps),
                 pair_ratio(2, 3));
      fmt::print("(torch::nn train() mode / ours: {:.2f}x, not the same arithmetic)\n", median(rows[4].sps) / median(rows[0].sps));
      fmt::print("ours, once per train() call outside the steps (parameters, executor, settings digest, write-back): "
                 "{:.0f} ms median\n", 1000 * median(setup));

      if (ranks) {
        TempDir tmp;
        struct Config {
          int nproc, threads;
        };
        const std::vector<Config> configs = {{1, 1}, {1, 2}, {2, 1}};
        std::vector<double> med;
        fmt::print("\nData parallel (our trainer, launch_local_ranks on loopback, Gloo), global batch {}, labels, "
                   "{} blocks of {} global steps after {} warm-up steps, medians\n",
                   s.batch, s.repeat, s.steps, s.warmup);
        fmt::print("{:<28} {:>11} {:>9}   {}\n", "ranks x threads", "samples/s", "ms/step", "blocks (samples/s)");
        for (const Config& c : configs) {
          const fs::path out = tmp / fmt::format("ranks{}_threads{}.txt", c.nproc, c.threads);
          distill::launch_local_ranks(c.nproc, worker_argv(s, c.threads, out.string()));
          const std::vector<double> v = read_figures(out);
          med.push_back(median(v));
          std::vector<std::string> b;
          for (double x : v) b.push_back(fmt::format("{:.0f}", x));
          fmt::print("{:<28} {:>11.0f} {:>9.2f}   {}\n", fmt::format("{} rank(s) x {} thread(s)", c.nproc, c.threads),
                     med.back(), 1000.0 * s.batch / med.back(), fmt::join(b, " "));
        }
        fmt::print("2 ranks x 1 thread vs 1 rank x 1 thread: {:.2f}x; vs 1 rank x 2 threads (same cores): {:.2f}x\n",
                   med[2] / med[0], med[2] / med[1]);
      }
      fmt::print("\n{} before, {} after\n", load_before, load_note());
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_trainer: error: {}\n", e.what());
      return 1;
    }
    return 0;
  });
}
