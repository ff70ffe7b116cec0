// Optimizers: SGD (momentum, Nesterov, L2 weight decay, L1) and Adam / AdamW, each step one fused
// kernel per parameter (kernels/optimizer.h holds the exact update formulas, PyTorch's).
//
// Note: an optimizer keeps per-parameter state (momentum buffers, Adam's moments) on the
// parameters' device, created at the first step. state() names it "<param>.<slot>" for
// checkpoints; load_state() puts saved state back, so a resumed run continues exactly.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/optimizer.h"
#include "layers/layer.h"

namespace cudanet::train {

using NamedParameters = std::vector<std::pair<std::string, layers::Parameter*>>;

class Optimizer {
 public:
  explicit Optimizer(NamedParameters params);
  virtual ~Optimizer() = default;
  virtual const char* type() const = 0;
  // One update of every parameter from its gradient.
  virtual void step() = 0;
  void zero_grad();

  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  std::int64_t steps() const { return steps_; }
  // Counts one step that ran without step(): a replay of a CUDA graph that captured step() (the
  // capture itself ran step() once, for the graph's first replay).
  void count_replayed_step() { ++steps_; }

  // The optimizer's state tensors by name, and the step count, for checkpoints.
  std::map<std::string, Tensor> state() const;
  // Restores state() output; ValueError on a missing or misshapen tensor.
  void load_state(const std::map<std::string, Tensor>& state, std::int64_t steps);

 protected:
  // The slot `slot` of parameter i, created as zeros like the parameter when missing.
  Tensor& slot(std::size_t i, const char* slot);
  virtual std::vector<const char*> slot_names() const = 0;

  NamedParameters params_;
  std::vector<std::map<std::string, Tensor>> slots_;
  std::int64_t steps_ = 0;
};

class Sgd : public Optimizer {
 public:
  Sgd(NamedParameters params, const kernels::SgdParams& p);
  const char* type() const override { return "sgd"; }
  void step() override;
  double lr() const override { return p_.lr; }
  void set_lr(double lr) override { p_.lr = lr; }

 private:
  std::vector<const char*> slot_names() const override;
  kernels::SgdParams p_;
};

class Adam : public Optimizer {
 public:
  Adam(NamedParameters params, const kernels::AdamParams& p);
  const char* type() const override { return p_.decoupled ? "adamw" : "adam"; }
  void step() override;
  double lr() const override { return p_.lr; }
  void set_lr(double lr) override { p_.lr = lr; }

 private:
  std::vector<const char*> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  kernels::AdamParams p_;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const NamedParameters& params, double max_norm);

}  // namespace cudanet::train
