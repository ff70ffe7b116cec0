#include "train/lr_schedule.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace cudanet::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_base_lr(double base_lr) {
  CUDANET_CHECK(std::isfinite(base_lr) && base_lr >= 0, ValueError,
                "learning rate must be finite and non-negative, got ", base_lr);
}

void check_gamma(double gamma) {
  CUDANET_CHECK(std::isfinite(gamma) && gamma > 0, ValueError,
                "gamma must be finite and positive, got ", gamma);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

double parse_double(const std::string& s, const std::string& spec) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  CUDANET_CHECK(!s.empty() && end == s.c_str() + s.size(), ValueError, "learning-rate schedule \"",
                spec, "\": \"", s, "\" is not a number");
  return v;
}

std::int64_t parse_int(const std::string& s, const std::string& spec) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  CUDANET_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0, ValueError,
                "learning-rate schedule \"", spec, "\": \"", s, "\" is not an integer");
  return v;
}

}  // namespace

LrSchedule LrSchedule::constant(double base_lr) {
  check_base_lr(base_lr);
  LrSchedule s;
  s.kind_ = Kind::kConstant;
  s.base_lr_ = base_lr;
  return s;
}

LrSchedule LrSchedule::step(double base_lr, std::int64_t step_size, double gamma) {
  check_base_lr(base_lr);
  check_gamma(gamma);
  CUDANET_CHECK(step_size >= 1, ValueError, "step schedule: step_size must be at least 1, got ",
                step_size);
  LrSchedule s;
  s.kind_ = Kind::kStep;
  s.base_lr_ = base_lr;
  s.step_size_ = step_size;
  s.gamma_ = gamma;
  return s;
}

LrSchedule LrSchedule::multistep(double base_lr, std::vector<std::int64_t> milestones,
                                 double gamma) {
  check_base_lr(base_lr);
  check_gamma(gamma);
  for (std::int64_t m : milestones) {
    CUDANET_CHECK(m >= 0, ValueError, "multistep schedule: negative milestone ", m);
  }
  std::sort(milestones.begin(), milestones.end());
  LrSchedule s;
  s.kind_ = Kind::kMultiStep;
  s.base_lr_ = base_lr;
  s.milestones_ = std::move(milestones);
  s.gamma_ = gamma;
  return s;
}

LrSchedule LrSchedule::cosine(double base_lr, std::int64_t t_max, double eta_min) {
  check_base_lr(base_lr);
  CUDANET_CHECK(t_max >= 1, ValueError, "cosine schedule: t_max must be at least 1, got ", t_max);
  CUDANET_CHECK(std::isfinite(eta_min) && eta_min >= 0, ValueError,
                "cosine schedule: eta_min must be finite and non-negative, got ", eta_min);
  LrSchedule s;
  s.kind_ = Kind::kCosine;
  s.base_lr_ = base_lr;
  s.t_max_ = t_max;
  s.eta_min_ = eta_min;
  return s;
}

LrSchedule LrSchedule::with_warmup(std::int64_t warmup, double start_factor) const {
  CUDANET_CHECK(warmup >= 0, ValueError, "warm-up length must be non-negative, got ", warmup);
  CUDANET_CHECK(std::isfinite(start_factor) && start_factor > 0 && start_factor <= 1, ValueError,
                "warm-up start factor must be in (0, 1], got ", start_factor);
  LrSchedule s = *this;
  s.warmup_ = warmup;
  s.start_factor_ = start_factor;
  return s;
}

double LrSchedule::lr_at(std::int64_t t) const {
  CUDANET_CHECK(t >= 0, ValueError, "learning-rate schedule: negative time ", t);
  if (t < warmup_) {
    const double progress = static_cast<double>(t) / static_cast<double>(warmup_);
    return base_lr_ * (start_factor_ + (1.0 - start_factor_) * progress);
  }
  return schedule_at(t - warmup_);
}

double LrSchedule::schedule_at(std::int64_t t) const {
  switch (kind_) {
    case Kind::kConstant:
      return base_lr_;
    case Kind::kStep:
      return base_lr_ * std::pow(gamma_, static_cast<double>(t / step_size_));
    case Kind::kMultiStep: {
      const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t) -
                          milestones_.begin();  // bisect_right
      return base_lr_ * std::pow(gamma_, static_cast<double>(passed));
    }
    case Kind::kCosine:
      return eta_min_ +
             (base_lr_ - eta_min_) *
                 (1.0 + std::cos(kPi * static_cast<double>(t) / static_cast<double>(t_max_))) / 2.0;
  }
  return base_lr_;
}

std::string LrSchedule::str() const {
  std::ostringstream os;
  switch (kind_) {
    case Kind::kConstant:
      os << "constant(base_lr=" << base_lr_ << ")";
      break;
    case Kind::kStep:
      os << "step(base_lr=" << base_lr_ << ", step_size=" << step_size_ << ", gamma=" << gamma_
         << ")";
      break;
    case Kind::kMultiStep:
      os << "multistep(base_lr=" << base_lr_ << ", milestones=[";
      for (std::size_t i = 0; i < milestones_.size(); ++i) os << (i ? ", " : "") << milestones_[i];
      os << "], gamma=" << gamma_ << ")";
      break;
    case Kind::kCosine:
      os << "cosine(base_lr=" << base_lr_ << ", t_max=" << t_max_ << ", eta_min=" << eta_min_
         << ")";
      break;
  }
  if (warmup_ > 0) os << " after warmup(" << warmup_ << ", start_factor=" << start_factor_ << ")";
  return os.str();
}

LrSchedule parse_lr_schedule(const std::string& spec, double base_lr) {
  const std::size_t plus = spec.find('+');
  const std::string main = spec.substr(0, plus);
  const std::vector<std::string> parts = split(main, ':');
  CUDANET_CHECK(!parts.empty(), ValueError, "empty learning-rate schedule");
  const std::string& name = parts[0];
  const auto arg_count = parts.size() - 1;
  const auto expect_args = [&](std::size_t lo, std::size_t hi) {
    CUDANET_CHECK(arg_count >= lo && arg_count <= hi, ValueError, "learning-rate schedule \"", spec,
                  "\": ", name, " takes ", lo, lo == hi ? "" : " or " + std::to_string(hi),
                  " argument", hi == 1 ? "" : "s", ", got ", arg_count);
  };
  LrSchedule s = LrSchedule::constant(base_lr);
  if (name == "constant") {
    expect_args(0, 0);
  } else if (name == "step") {
    expect_args(1, 2);
    s = LrSchedule::step(base_lr, parse_int(parts[1], spec),
                         arg_count == 2 ? parse_double(parts[2], spec) : 0.1);
  } else if (name == "multistep") {
    expect_args(1, 2);
    std::vector<std::int64_t> milestones;
    for (const std::string& m : split(parts[1], ',')) milestones.push_back(parse_int(m, spec));
    s = LrSchedule::multistep(base_lr, milestones,
                              arg_count == 2 ? parse_double(parts[2], spec) : 0.1);
  } else if (name == "cosine") {
    expect_args(1, 2);
    s = LrSchedule::cosine(base_lr, parse_int(parts[1], spec),
                           arg_count == 2 ? parse_double(parts[2], spec) : 0.0);
  } else {
    CUDANET_THROW(ValueError, "unknown learning-rate schedule \"", name,
                  "\" (known: constant, step, multistep, cosine)");
  }
  if (plus == std::string::npos) return s;
  const std::vector<std::string> w = split(spec.substr(plus + 1), ':');
  CUDANET_CHECK(!w.empty() && w[0] == "warmup" && (w.size() == 2 || w.size() == 3), ValueError,
                "learning-rate schedule \"", spec,
                "\": expected +warmup:N[:START_FACTOR] after '+'");
  return s.with_warmup(parse_int(w[1], spec), w.size() == 3 ? parse_double(w[2], spec) : 0.1);
}

}  // namespace cudanet::train
