#include "train/early_stopping.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/error.h"

namespace cudanet::train {

namespace {

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const std::string& entry(const std::map<std::string, std::string>& metadata,
                         const std::string& key) {
  const auto it = metadata.find(key);
  CUDANET_CHECK(it != metadata.end(), ValueError, "early stopping state: no \"", key,
                "\" in the checkpoint metadata");
  return it->second;
}

double parse_double(const std::string& s, const std::string& key) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  CUDANET_CHECK(!s.empty() && end == s.c_str() + s.size(), ValueError, "early stopping state: \"",
                key, "\" = \"", s, "\" is not a number");
  return v;
}

std::int64_t parse_int(const std::string& s, const std::string& key) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  CUDANET_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0, ValueError,
                "early stopping state: \"", key, "\" = \"", s, "\" is not an integer");
  return v;
}

}  // namespace

EarlyStopping::EarlyStopping(std::int64_t patience, double min_delta, MetricMode mode)
    : patience_(patience), min_delta_(min_delta), mode_(mode) {
  CUDANET_CHECK(patience >= 0, ValueError, "early stopping: patience must be >= 0, got ", patience);
  CUDANET_CHECK(std::isfinite(min_delta) && min_delta >= 0, ValueError,
                "early stopping: min_delta must be finite and >= 0, got ", min_delta);
  reset();
}

void EarlyStopping::reset() {
  state_ = EarlyStoppingState{};
  state_.best = mode_ == MetricMode::kMax ? -std::numeric_limits<double>::infinity()
                                          : std::numeric_limits<double>::infinity();
}

bool EarlyStopping::step(double value, std::int64_t epoch) {
  const bool better = mode_ == MetricMode::kMax ? value > state_.best + min_delta_
                                                : value < state_.best - min_delta_;
  state_.improved = better;  // false for NaN: every comparison with NaN is false
  if (better) {
    state_.best = value;
    state_.best_epoch = epoch;
    state_.bad_epochs = 0;
  } else {
    ++state_.bad_epochs;
  }
  return should_stop();
}

void EarlyStopping::save_state(std::map<std::string, std::string>& metadata,
                               const std::string& prefix) const {
  metadata[prefix + "best"] = exact(state_.best);
  metadata[prefix + "best_epoch"] = std::to_string(state_.best_epoch);
  metadata[prefix + "bad_epochs"] = std::to_string(state_.bad_epochs);
  metadata[prefix + "improved"] = state_.improved ? "1" : "0";
}

void EarlyStopping::load_state(const std::map<std::string, std::string>& metadata,
                               const std::string& prefix) {
  EarlyStoppingState s;
  const std::string best_key = prefix + "best", epoch_key = prefix + "best_epoch",
                    bad_key = prefix + "bad_epochs", improved_key = prefix + "improved";
  s.best = parse_double(entry(metadata, best_key), best_key);
  s.best_epoch = parse_int(entry(metadata, epoch_key), epoch_key);
  s.bad_epochs = parse_int(entry(metadata, bad_key), bad_key);
  const std::string& improved = entry(metadata, improved_key);
  CUDANET_CHECK(improved == "0" || improved == "1", ValueError, "early stopping state: \"",
                improved_key, "\" = \"", improved, "\" is not 0 or 1");
  CUDANET_CHECK(s.bad_epochs >= 0 && s.best_epoch >= -1, ValueError,
                "early stopping state: negative counts in the checkpoint");
  s.improved = improved == "1";
  state_ = s;
}

}  // namespace cudanet::train
