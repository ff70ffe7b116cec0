// Losses: the scalar a network is trained to minimise, and its gradient for the network's output.
#pragma once

#include "core/tensor.h"

namespace cudanet::layers {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual const char* type() const = 0;
  // The mean loss over the batch, as a 0-dim tensor on the output's device.
  virtual Tensor forward(const Tensor& output, const Tensor& target) = 0;
  // d(loss)/d(output) for the last forward.
  virtual Tensor backward() = 0;
};

// Softmax + cross-entropy over int64 class labels, fused and numerically stable; mean over the
// batch. output: logits [N, C]; target: labels [N].
class CrossEntropyLoss : public Loss {
 public:
  const char* type() const override { return "CrossEntropyLoss"; }
  Tensor forward(const Tensor& logits, const Tensor& labels) override;
  Tensor backward() override;

 private:
  Tensor probs_, labels_;
};

// Mean squared error: mean((output − target)²) over all elements.
class MSELoss : public Loss {
 public:
  const char* type() const override { return "MSELoss"; }
  Tensor forward(const Tensor& output, const Tensor& target) override;
  Tensor backward() override;

 private:
  Tensor output_, target_;
};

}  // namespace cudanet::layers
