// Anomaly detection: finds where a training step first produced a NaN or an infinity.
//
// A non-finite loss says only that something went wrong somewhere. With anomaly detection on
// (TrainConfig::detect_anomaly, `cudanet train --detect-anomaly`) the trainer runs each step
// through an AnomalyDetector, which checks, in the order they are computed: the input batch, each
// layer's output, the loss, the loss gradient, each layer's input gradient and parameter
// gradients, and the parameters after the optimizer step. The first tensor that holds a NaN or
// an infinity stops training with a NonFiniteError naming the epoch, the step, the layer and the
// tensor (and how many of its elements are non-finite).
//
// Note: each check is one device reduction (sum of 0·x, which is NaN exactly when some x is not
// finite) and a host synchronisation, so anomaly detection costs time; it is a debugging mode.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "layers/sequential.h"

namespace cudanet::train {

// Training produced a NaN or an infinity. `layer` is the Sequential child that computed the
// tensor ("input" for the batch, "loss" for the loss and its gradient, "optimizer" for parameters
// after an update); `tensor` says which ("output", "input gradient", "weight gradient", ...).
class NonFiniteError : public Error {
 public:
  NonFiniteError(std::string message, const char* file, int line, std::int64_t epoch,
                 std::int64_t step, std::string layer, std::string tensor)
      : Error(std::move(message), file, line),
        epoch_(epoch),
        step_(step),
        layer_(std::move(layer)),
        tensor_(std::move(tensor)) {}
  std::int64_t epoch() const noexcept { return epoch_; }  // 1-based
  std::int64_t step() const noexcept { return step_; }    // 1-based, within the epoch
  const std::string& layer() const noexcept { return layer_; }
  const std::string& tensor() const noexcept { return tensor_; }

 private:
  std::int64_t epoch_, step_;
  std::string layer_, tensor_;
};

// Whether every element of `t` (float32 or float64, any device) is finite.
bool all_finite(const Tensor& t);

// Throws the NonFiniteError of a loss that became `loss` at (epoch, step), 1-based: the message
// names the last good checkpoint (when `last_checkpoint` is not empty) and, unless anomaly
// detection is already on, suggests --detect-anomaly to find the layer.
[[noreturn]] void throw_non_finite_loss(double loss, std::int64_t epoch, std::int64_t step,
                                        const std::string& last_checkpoint, bool detecting);

class AnomalyDetector {
 public:
  // `model` must outlive the detector.
  explicit AnomalyDetector(layers::Sequential& model) : model_(model) {}

  // Where the next checks happen (1-based), for the messages.
  void set_step(std::int64_t epoch, std::int64_t step) {
    epoch_ = epoch;
    step_ = step;
  }

  // model.forward(x, mode), checking x and every layer's output.
  Tensor forward(const Tensor& x, layers::Mode mode);
  // model.backward_parameters(dy), checking dy, every layer's input gradient and every parameter
  // gradient as soon as its layer has run.
  void backward_parameters(const Tensor& dy);
  // Checks every parameter value (after an optimizer step).
  void check_parameters();

  // Throws NonFiniteError for `t` unless all_finite(t); `layer` and `what` name it. For the loss
  // and other tensors the trainer computes itself.
  void check(const Tensor& t, const std::string& layer, const std::string& what) const;

 private:
  layers::Sequential& model_;
  std::int64_t epoch_ = 0, step_ = 0;
};

}  // namespace cudanet::train
