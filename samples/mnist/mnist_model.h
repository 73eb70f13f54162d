// The MNIST teacher's network as a LibTorch module: the sample trains it
// (samples/mnist/train_teacher.cpp) and bench_trainer compares our trainer against it.
// Layout and sizes: see train_teacher.cpp's header comment. Dropout is identity at inference
// and is not exported.
#pragma once
#include <torch/torch.h>

namespace edgepack::mnist_sample {

struct NetImpl : torch::nn::Module {
  torch::nn::Conv2d conv1{torch::nn::Conv2dOptions(1, 16, 3).padding(1)};
  torch::nn::BatchNorm2d bn1{16};
  torch::nn::Conv2d conv2{torch::nn::Conv2dOptions(16, 32, 3).padding(1)};
  torch::nn::BatchNorm2d bn2{32};
  torch::nn::Linear fc1{32 * 7 * 7, 128};
  torch::nn::Dropout drop{0.3};
  torch::nn::Linear fc2{128, 10};

  NetImpl() {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    register_module("fc1", fc1);
    register_module("drop", drop);
    register_module("fc2", fc2);
  }
  torch::Tensor forward(torch::Tensor x) {
    namespace F = torch::nn::functional;
    auto pool = F::MaxPool2dFuncOptions(2).stride(2);
    x = F::max_pool2d(torch::relu(bn1(conv1(x))), pool);
    x = F::max_pool2d(torch::relu(bn2(conv2(x))), pool);
    x = torch::relu(fc1(x.flatten(1)));
    return fc2(drop(x));
  }
};
TORCH_MODULE(Net);

}  // namespace edgepack::mnist_sample
