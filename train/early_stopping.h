// EarlyStopping: stop training when a validation metric has stopped improving.
//
// An epoch improves on the best so far when its value is better by more than min_delta (mode
// kMax: value > best + min_delta; kMin: value < best - min_delta; NaN never improves). After
// `patience` epochs in a row without improvement, should_stop() turns true (patience 0: at the
// first epoch without one). The state is a few numbers, saved with a checkpoint through
// save_state / load_state so a resumed run stops where the uninterrupted one would.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace cudanet::train {

enum class MetricMode { kMin, kMax };

struct EarlyStoppingState {
  double best = 0;               // +-infinity before the first epoch
  std::int64_t best_epoch = -1;  // -1 before any improvement
  std::int64_t bad_epochs = 0;   // epochs in a row without improvement
  bool improved = false;         // whether the last epoch recorded improved
};

class EarlyStopping {
 public:
  // Throws ValueError unless patience >= 0 and min_delta is finite and >= 0.
  explicit EarlyStopping(std::int64_t patience, double min_delta = 0.0,
                         MetricMode mode = MetricMode::kMax);

  // Records the metric of `epoch`; returns should_stop().
  bool step(double value, std::int64_t epoch);

  bool should_stop() const { return state_.bad_epochs > 0 && state_.bad_epochs >= patience_; }
  // Whether the last recorded epoch was an improvement (time to save the best model).
  bool improved() const { return state_.improved; }
  double best() const { return state_.best; }
  std::int64_t best_epoch() const { return state_.best_epoch; }
  std::int64_t bad_epochs() const { return state_.bad_epochs; }
  std::int64_t patience() const { return patience_; }
  double min_delta() const { return min_delta_; }
  MetricMode mode() const { return mode_; }

  const EarlyStoppingState& state() const { return state_; }
  void set_state(const EarlyStoppingState& state) { state_ = state; }
  // Back to the state before the first epoch.
  void reset();

  // Writes the state into checkpoint metadata as "<prefix>best", "<prefix>best_epoch",
  // "<prefix>bad_epochs", "<prefix>improved" (doubles printed exactly, round-trip safe).
  void save_state(std::map<std::string, std::string>& metadata,
                  const std::string& prefix = "early_stopping.") const;
  // Reads what save_state wrote; throws ValueError for missing or malformed entries.
  void load_state(const std::map<std::string, std::string>& metadata,
                  const std::string& prefix = "early_stopping.");

 private:
  std::int64_t patience_;
  double min_delta_;
  MetricMode mode_;
  EarlyStoppingState state_;
};

}  // namespace cudanet::train
