// LrSchedule: the learning rate as a pure function of the epoch (or step) number.
//
// The closed forms are PyTorch's, with t counted from 0 (PyTorch's last_epoch):
//   constant                 lr(t) = base_lr
//   step(step_size, gamma)   lr(t) = base_lr * gamma^floor(t / step_size)         (StepLR)
//   multistep(ms, gamma)     lr(t) = base_lr * gamma^(number of milestones <= t)  (MultiStepLR)
//   cosine(t_max, eta_min)   lr(t) = eta_min + (base_lr - eta_min)(1 + cos(pi t / t_max)) / 2
//                                                                       (CosineAnnealingLR)
// with_warmup(w, f) prepends a linear warm-up, as PyTorch's
//   SequentialLR([LinearLR(start_factor=f, total_iters=w), schedule], milestones=[w]):
//   lr(t) = base_lr * (f + (1 - f) t / w) for t < w, then schedule(t - w).
// Whether t counts epochs or optimizer steps is the caller's choice; it is the same for the
// warm-up and the schedule. Being pure, a schedule needs no state in a checkpoint: a resumed run
// asks for lr_at(its epoch) again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cudanet::train {

class LrSchedule {
 public:
  enum class Kind { kConstant, kStep, kMultiStep, kCosine };

  // Each throws ValueError for invalid arguments: base_lr >= 0, step_size >= 1, gamma > 0,
  // milestones >= 0, t_max >= 1, 0 <= eta_min, all finite.
  static LrSchedule constant(double base_lr);
  static LrSchedule step(double base_lr, std::int64_t step_size, double gamma = 0.1);
  // Milestones may come in any order; a repeated milestone applies gamma twice (as in PyTorch).
  static LrSchedule multistep(double base_lr, std::vector<std::int64_t> milestones,
                              double gamma = 0.1);
  static LrSchedule cosine(double base_lr, std::int64_t t_max, double eta_min = 0.0);

  // This schedule after a linear warm-up of `warmup` units from start_factor * base_lr; warmup 0
  // means none. Throws ValueError unless warmup >= 0 and 0 < start_factor <= 1.
  LrSchedule with_warmup(std::int64_t warmup, double start_factor = 0.1) const;

  // The learning rate at t >= 0 (ValueError for t < 0).
  double lr_at(std::int64_t t) const;

  Kind kind() const { return kind_; }
  double base_lr() const { return base_lr_; }
  std::int64_t warmup() const { return warmup_; }
  // E.g. "cosine(base_lr=0.1, t_max=30, eta_min=0) after warmup(5, start_factor=0.1)".
  std::string str() const;

 private:
  LrSchedule() = default;
  double schedule_at(std::int64_t t) const;

  Kind kind_ = Kind::kConstant;
  double base_lr_ = 0;
  std::int64_t step_size_ = 1;
  double gamma_ = 1;
  std::vector<std::int64_t> milestones_;  // sorted
  std::int64_t t_max_ = 1;
  double eta_min_ = 0;
  std::int64_t warmup_ = 0;
  double start_factor_ = 1;
};

// Parses a schedule for the command line: "constant", "step:STEP_SIZE[:GAMMA]",
// "multistep:M1,M2,...[:GAMMA]" or "cosine:T_MAX[:ETA_MIN]", optionally followed by
// "+warmup:N[:START_FACTOR]"; gamma defaults to 0.1, eta_min to 0, start_factor to 0.1.
// Throws ValueError naming the problem.
LrSchedule parse_lr_schedule(const std::string& spec, double base_lr);

}  // namespace cudanet::train
