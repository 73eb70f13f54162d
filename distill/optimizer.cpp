#include "distill/optimizer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace edgepack::distill {

OptimizerOptions::Kind optimizer_kind(const std::string& name) {
  if (name == "sgd") return OptimizerOptions::Kind::SGD;
  if (name == "adamw") return OptimizerOptions::Kind::AdamW;
  throw InputError(fmt::format("unknown optimizer '{}' (known: sgd, adamw)", name));
}

Optimizer::Optimizer(std::vector<at::Tensor> parameters, OptimizerOptions options)
    : params_(std::move(parameters)), options_(options) {
  for (const at::Tensor& p : params_) {
    buf1_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    buf2_.push_back(options_.kind == OptimizerOptions::Kind::AdamW ? at::zeros_like(p, at::MemoryFormat::Contiguous)
                                                                   : at::Tensor());
  }
}

void Optimizer::zero_grad() {
  for (at::Tensor& p : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

void Optimizer::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  const OptimizerOptions& o = options_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad();
    const bool decay = o.weight_decay != 0 && p.dim() >= 2;
    if (o.kind == OptimizerOptions::Kind::SGD) {
      if (decay) g = g + p * o.weight_decay;
      if (o.momentum != 0) {
        // The first step seeds the buffer with the gradient, as torch.optim.SGD does.
        if (steps_ == 1) buf1_[i].copy_(g);
        else buf1_[i].mul_(o.momentum).add_(g);
        g = o.nesterov ? g + buf1_[i] * o.momentum : buf1_[i];
      }
      p.add_(g, -lr);
      continue;
    }
    if (decay) p.mul_(1 - lr * o.weight_decay);
    buf1_[i].mul_(o.beta1).add_(g, 1 - o.beta1);
    buf2_[i].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(steps_));
    const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(steps_));
    at::Tensor denom = (buf2_[i] / bc2).sqrt_().add_(o.eps);
    p.addcdiv_(buf1_[i], denom, -lr / bc1);
  }
}

NamedArrays Optimizer::state() const {
  NamedArrays out;
  out.emplace_back("steps", at::scalar_tensor(steps_, at::kLong));
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(fmt::format("{}/buf1", i), buf1_[i]);
    if (buf2_[i].defined()) out.emplace_back(fmt::format("{}/buf2", i), buf2_[i]);
  }
  return out;
}

void Optimizer::load_state(const NamedArrays& state) {
  std::map<std::string, at::Tensor> byname(state.begin(), state.end());
  auto take = [&](const std::string& name, at::Tensor& into) {
    auto it = byname.find(name);
    if (it == byname.end() || it->second.sizes() != into.sizes())
      throw InputError(fmt::format("optimizer state '{}' is missing or does not fit the parameters", name));
    into.copy_(it->second);
  };
  auto steps = byname.find("steps");
  if (steps == byname.end()) throw InputError("optimizer state has no step count");
  steps_ = steps->second.item<int64_t>();
  for (size_t i = 0; i < params_.size(); ++i) {
    take(fmt::format("{}/buf1", i), buf1_[i]);
    if (buf2_[i].defined()) take(fmt::format("{}/buf2", i), buf2_[i]);
  }
}

}  // namespace edgepack::distill
