#include "layers/loss.h"

#include "kernels/mse.h"
#include "kernels/softmax.h"

namespace cudanet::layers {

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& labels) {
  Tensor loss = kernels::softmax_cross_entropy_forward(logits, labels, &probs_);
  labels_ = labels;
  return loss;
}

Tensor CrossEntropyLoss::backward() {
  CUDANET_CHECK(probs_.defined(), ValueError, "CrossEntropyLoss.backward: run forward first");
  return kernels::softmax_cross_entropy_backward(probs_, labels_);
}

Tensor MSELoss::forward(const Tensor& output, const Tensor& target) {
  output_ = output;
  target_ = target;
  return kernels::mse_forward(output, target);
}

Tensor MSELoss::backward() {
  CUDANET_CHECK(output_.defined(), ValueError, "MSELoss.backward: run forward first");
  return kernels::mse_backward(output_, target_);
}

}  // namespace cudanet::layers
