// Trains the MNIST teacher: a small CNN, with LibTorch, on the fixed split made by
// scripts/fetch-data.sh, and writes it as ONNX through edgepack's IR and save_onnx. The written
// file is then imported again and run with edgepack's Executor on the test set, so the accuracy
// printed for "edgepack" is that of the ONNX file itself.
//
// usage: mnist_teacher --data DIR --out teacher.onnx [--epochs E] [--seed S] [--threads T]
//                      [--min-accuracy PCT]
//   DIR holds train.npz and test.npz (`input` float32 [N,1,28,28] in [0,1], `labels` int64 [N]).
//
// Network (ONNX ops: Conv, BatchNormalization, Relu, MaxPool, Flatten, Gemm; opset 13):
//   input [N,1,28,28] -> conv1 3x3 1->16 pad 1 -> bn1 -> relu -> maxpool 2
//                     -> conv2 3x3 16->32 pad 1 -> bn2 -> relu -> maxpool 2
//                     -> flatten [N,1568] -> fc1 1568->128 -> relu -> fc2 128->10 -> logits [N,10]
// (~1.22 M multiply-adds per image, 207 k parameters; twice the channels cost 2-3x the
// training time for +0.1 point of accuracy.)
// Training: Adam, batch 64, cosine learning rate 2e-3 -> 0, dropout 0.3 before fc2 (identity at
// inference, not exported), and random affine augmentation (rotation +-10 degrees, scale 0.9..1.1,
// shift +-2 px). Deterministic for a given seed and thread count.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/executor.h"
#include "core/ir.h"
#include "core/npy.h"
#include "core/onnx_import.h"
#include "core/onnx_export.h"
#include "samples/mnist/mnist_model.h"

using namespace edgepack;
namespace F = torch::nn::functional;

namespace {

struct Split {
  torch::Tensor input;   // float [N,1,28,28]
  torch::Tensor labels;  // int64 [N]
};

Split load_split(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw InputError(fmt::format("missing '{}'; make the data first with scripts/fetch-data.sh", path));
  Split s;
  for (auto& [name, array] : read_npz(path)) {
    if (name == "input") s.input = array;
    if (name == "labels") s.labels = array;
  }
  if (!s.input.defined()) throw InputError(fmt::format("'{}' has no array 'input'", path));
  if (!s.labels.defined()) throw InputError(fmt::format("'{}' has no array 'labels'", path));
  if (s.input.scalar_type() != at::kFloat || s.input.dim() != 4 || s.input.size(1) != 1 || s.input.size(2) != 28 ||
      s.input.size(3) != 28)
    throw InputError(fmt::format("'{}': `input` must be float32 [N,1,28,28]", path));
  if (s.labels.scalar_type() != at::kLong || s.labels.dim() != 1 || s.labels.size(0) != s.input.size(0))
    throw InputError(fmt::format("'{}': `labels` must be int64 [N] with N = {}", path, s.input.size(0)));
  return s;
}

using mnist_sample::Net;

// Random rotation (+-10 deg), scale (0.9..1.1) and shift (+-2 px) per sample; zeros outside.
torch::Tensor augment(const torch::Tensor& x) {
  int64_t n = x.size(0);
  auto angle = (torch::rand({n}) * 2 - 1) * (10.0 * M_PI / 180.0);
  auto scale = 0.9 + torch::rand({n}) * 0.2;
  auto shift = (torch::rand({n, 2}) * 2 - 1) * (2.0 / 14.0);  // normalized coords: 14 px = 1
  auto c = torch::cos(angle) / scale, s = torch::sin(angle) / scale;
  auto theta = torch::stack({torch::stack({c, -s, shift.select(1, 0)}, 1), torch::stack({s, c, shift.select(1, 1)}, 1)}, 1);
  auto grid = F::affine_grid(theta, x.sizes(), false);
  return F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
}

// Logits for a whole split, in batches (eval mode, no grad).
torch::Tensor predict(Net& net, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < input.size(0); i += 500) out.push_back(net->forward(input.slice(0, i, i + 500)));
  return torch::cat(out);
}

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return 100.0 * logits.argmax(1).eq(labels).sum().item<int64_t>() / labels.size(0);
}

// --- IR building ---

Model to_ir(Net& net, int64_t seed, int64_t epochs, double test_accuracy) {
  Model m;
  m.opsets[""] = 13;
  m.producer_name = "edgepack mnist_teacher";
  m.producer_version = EDGEPACK_VERSION;
  m.doc_string = "MNIST teacher CNN trained with LibTorch on the fixed split of scripts/fetch-data.sh";
  m.metadata["seed"] = std::to_string(seed);
  m.metadata["epochs"] = std::to_string(epochs);
  m.metadata["test_accuracy"] = fmt::format("{:.2f}", test_accuracy);
  Graph& g = m.graph;
  g.name = "mnist_teacher";
  g.inputs.push_back(float_value("input", {Dim{-1, "N"}, Dim{1, ""}, Dim{28, ""}, Dim{28, ""}}));
  g.outputs.push_back(float_value("logits", {Dim{-1, "N"}, Dim{10, ""}}));
  for (const auto& item : net->named_parameters()) g.initializers[item.key()] = item.value().detach().clone().contiguous();
  for (const auto& item : net->named_buffers()) {
    if (item.key().find("num_batches_tracked") != std::string::npos) continue;
    g.initializers[item.key()] = item.value().detach().clone().contiguous();
  }

  std::string x = "input";
  for (int i : {1, 2}) {
    std::string conv = fmt::format("conv{}", i), bn = fmt::format("bn{}", i);
    Node c = make_node("Conv", {x, conv + ".weight", conv + ".bias"}, conv);
    c.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
    c.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
    c.attrs["strides"] = Attribute::of_ints({1, 1});
    Node b = make_node("BatchNormalization",
                       {conv, bn + ".weight", bn + ".bias", bn + ".running_mean", bn + ".running_var"}, bn);
    b.attrs["epsilon"] = Attribute::of_float(1e-5f);
    Node r = make_node("Relu", {bn}, fmt::format("relu{}", i));
    Node p = make_node("MaxPool", {r.outputs[0]}, fmt::format("pool{}", i));
    p.attrs["kernel_shape"] = Attribute::of_ints({2, 2});
    p.attrs["strides"] = Attribute::of_ints({2, 2});
    g.nodes.insert(g.nodes.end(), {c, b, r, p});
    x = p.outputs[0];
  }
  g.nodes.push_back(make_node("Flatten", {x}, "flatten"));  // axis 1 by default
  Node fc1 = make_node("Gemm", {"flatten", "fc1.weight", "fc1.bias"}, "fc1");
  fc1.attrs["transB"] = Attribute::of_int(1);
  g.nodes.push_back(fc1);
  g.nodes.push_back(make_node("Relu", {"fc1"}, "relu3"));
  Node fc2 = make_node("Gemm", {"relu3", "fc2.weight", "fc2.bias"}, "logits");
  fc2.attrs["transB"] = Attribute::of_int(1);
  g.nodes.push_back(fc2);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  // LibTorch's OpenMP threads spin while they wait. When other jobs share the cores, a spinning
  // thread starves the one it waits for: measured 5-10x slower training on 2 busy cores.
  // libgomp reads OMP_WAIT_POLICY when it loads, before main, so re-run once with it set unless
  // the caller chose a policy. Results do not depend on it.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: go on with the default policy
  }
  CLI::App app{"Trains the MNIST teacher CNN with LibTorch and writes it as ONNX."};
  std::string data_dir, out_path;
  int64_t epochs = 20, seed = 1;
  int threads = 2;
  double min_accuracy = 0;
  app.add_option("--data", data_dir, "folder with train.npz and test.npz (scripts/fetch-data.sh)")->required();
  app.add_option("--out", out_path, "ONNX file to write")->required();
  app.add_option("--epochs", epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--seed", seed, "random seed (weights, shuffling, augmentation, dropout)")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads (fixed for determinism; 0 = all cores)")->capture_default_str();
  app.add_option("--min-accuracy", min_accuracy, "fail without writing when test accuracy (%) is below this")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    set_threads(threads);
    Split train = load_split(data_dir + "/train.npz");
    Split test = load_split(data_dir + "/test.npz");
    fmt::print(stderr, "mnist_teacher: {} train, {} test samples; {} epochs, seed {}, {} threads\n", train.labels.size(0),
               test.labels.size(0), epochs, seed, at::get_num_threads());

    torch::manual_seed(seed);
    Net net;
    const double base_lr = 2e-3;
    const int64_t batch = 64;
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(base_lr).weight_decay(1e-5));
    const int64_t n = train.labels.size(0);
    const int64_t steps_per_epoch = (n + batch - 1) / batch, total_steps = steps_per_epoch * epochs;
    int64_t step = 0;
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    double test_acc = 0;
    for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
      net->train();
      auto perm = torch::randperm(n, torch::kLong);
      double loss_sum = 0;
      for (int64_t i = 0; i < n; i += batch, ++step) {
        double lr = 0.5 * base_lr * (1 + std::cos(M_PI * step / total_steps));
        for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
        auto idx = perm.slice(0, i, i + batch);
        auto x = augment(train.input.index_select(0, idx));
        auto y = train.labels.index_select(0, idx);
        opt.zero_grad();
        auto loss = F::cross_entropy(net->forward(x), y);
        loss.backward();
        opt.step();
        loss_sum += loss.item<double>() * idx.size(0);
      }
      test_acc = accuracy(predict(net, test.input), test.labels);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print(stderr, "epoch {:2}/{}: train loss {:.4f}, test accuracy {:.2f}% ({:.0f} s, cpu {:.0f} s)\n", epoch, epochs,
                 loss_sum / n, test_acc, secs, double(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    torch::Tensor torch_logits = predict(net, test.input);
    test_acc = accuracy(torch_logits, test.labels);
    if (test_acc < min_accuracy)
      throw Error(fmt::format("test accuracy {:.2f}% is below --min-accuracy {:.2f}%; not writing '{}'", test_acc,
                              min_accuracy, out_path));

    save_onnx(to_ir(net, seed, epochs, test_acc), out_path);

    // Check the file itself: import it again and run it with edgepack's executor.
    Model imported = import_onnx(out_path);
    Executor exec(imported);
    std::vector<at::Tensor> outs;
    for (int64_t i = 0; i < test.input.size(0); i += 500)
      outs.push_back(exec.run(std::map<std::string, at::Tensor>{{"input", test.input.slice(0, i, i + 500)}}).at("logits"));
    at::Tensor ours = at::cat(outs);
    double ours_acc = accuracy(ours, test.labels);
    double max_diff = (ours - torch_logits).abs().max().item<double>();
    fmt::print(stderr, "mnist_teacher: trained in {:.1f} s; wrote {}\n", train_secs, out_path);
    fmt::print(stderr, "mnist_teacher: test accuracy: libtorch {:.2f}%, edgepack executor on the ONNX {:.2f}% "
               "(max |logit diff| {:.2e})\n", test_acc, ours_acc, max_diff);
    // Same computation in float32: any disagreement beyond a couple of ties means a bad export.
    if (std::abs(ours_acc - test_acc) > 0.1 || max_diff > 1e-2) {
      std::filesystem::remove(out_path);  // do not leave a file that scripts would take as done
      throw Error(fmt::format("the exported ONNX model disagrees with the trained LibTorch model; removed '{}'", out_path));
    }
  } catch (const InputError& e) {
    fmt::print(stderr, "mnist_teacher: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mnist_teacher: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
