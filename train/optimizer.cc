#include "train/optimizer.h"

#include <cmath>

#include "core/nvtx.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace cudanet::train {

Optimizer::Optimizer(NamedParameters params) : params_(std::move(params)), slots_(params_.size()) {
  for (const auto& p : params_) {
    CUDANET_CHECK(p.second != nullptr && p.second->value.defined(), ValueError,
                  "optimizer: parameter '", p.first, "' is undefined");
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.second->grad.zero_();
}

Tensor& Optimizer::slot(std::size_t i, const char* name) {
  Tensor& t = slots_[i][name];
  const Tensor& v = params_[i].second->value;
  if (!t.defined() || t.device() != v.device() || t.dtype() != v.dtype()) {
    t = t.defined() ? t.to(v.dtype()).to(v.device())
                    : Tensor::zeros(v.shape(), v.dtype(), v.device());
  }
  return t;
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (const auto& s : slots_[i]) out[params_[i].first + "." + s.first] = s.second;
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state, std::int64_t steps) {
  CUDANET_CHECK(steps >= 0, ValueError, type(), ": negative step count ", steps);
  std::vector<std::map<std::string, Tensor>> slots(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (steps == 0) break;
    for (const char* name : slot_names()) {
      const std::string key = params_[i].first + "." + name;
      auto it = state.find(key);
      CUDANET_CHECK(it != state.end(), ValueError, type(), ": saved state lacks '", key, "'");
      const Tensor& v = params_[i].second->value;
      CUDANET_CHECK(it->second.shape() == v.shape(), ValueError, type(), ": saved '", key,
                    "' has shape ", shape_str(it->second.shape()), ", the parameter ",
                    shape_str(v.shape()));
      slots[i][name] = it->second.to(v.dtype()).to(v.device());
    }
  }
  slots_ = std::move(slots);
  steps_ = steps;
}

Sgd::Sgd(NamedParameters params, const kernels::SgdParams& p)
    : Optimizer(std::move(params)), p_(p) {
  CUDANET_CHECK(p.lr >= 0 && p.momentum >= 0 && p.weight_decay >= 0 && p.l1 >= 0, ValueError,
                "sgd: lr, momentum, weight decay and l1 must be >= 0; got lr ", p.lr, ", momentum ",
                p.momentum, ", weight decay ", p.weight_decay, ", l1 ", p.l1);
  CUDANET_CHECK(!p.nesterov || p.momentum > 0, ValueError, "sgd: Nesterov needs momentum > 0");
}

std::vector<const char*> Sgd::slot_names() const {
  if (p_.momentum > 0) return {"momentum_buffer"};
  return {};
}

void Sgd::step() {
  CUDANET_RANGE("optimizer/step");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    layers::Parameter& p = *params_[i].second;
    Tensor* buf = p_.momentum > 0 ? &slot(i, "momentum_buffer") : nullptr;
    kernels::sgd_update(p.value, p.grad, buf, p_);
  }
  ++steps_;
}

Adam::Adam(NamedParameters params, const kernels::AdamParams& p)
    : Optimizer(std::move(params)), p_(p) {
  CUDANET_CHECK(
      p.lr >= 0 && p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1 && p.eps > 0 &&
          p.weight_decay >= 0,
      ValueError, "adam: need lr >= 0, betas in [0, 1), eps > 0, weight decay >= 0; got lr ", p.lr,
      ", betas ", p.beta1, "/", p.beta2, ", eps ", p.eps, ", weight decay ", p.weight_decay);
}

void Adam::step() {
  CUDANET_RANGE("optimizer/step");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    layers::Parameter& p = *params_[i].second;
    kernels::adam_update(p.value, p.grad, slot(i, "exp_avg"), slot(i, "exp_avg_sq"), p_,
                         steps_ + 1);
  }
  ++steps_;
}

double clip_grad_norm(const NamedParameters& params, double max_norm) {
  CUDANET_CHECK(max_norm > 0, ValueError, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  double total = 0;
  for (const auto& p : params) {
    const Tensor& g = p.second->grad;
    total += kernels::sum_all(kernels::mul(g, g)).item();
  }
  const double norm = std::sqrt(total);
  if (norm > max_norm) {
    const double factor = max_norm / (norm + 1e-6);
    for (const auto& p : params) kernels::scale_(p.second->grad, factor);
  }
  return norm;
}

}  // namespace cudanet::train
