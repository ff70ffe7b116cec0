// Per-layer timing of a training step: where the time of forward, backward and the update goes.
//
// profile_training_step runs whole training steps of a Sequential network with a cross-entropy
// loss, timing each layer's forward and backward, the loss and the parameter update separately.
// On a GPU each piece is bracketed by two CUDA events on the current stream (recording an event
// does not stall the stream, so the step runs as it would unprofiled; the host waits once, at the
// end of each step, to read the times); on the CPU a steady clock brackets each piece. Each piece
// also opens an NVTX range ("conv1/forward", "loss", "optimizer/step"), so the same run reads
// like the network in Nsight Systems.
//
// Note: the backward stops at the first layer with parameters and skips its input gradient,
// as Sequential::backward_parameters does in training, so the profile times what training runs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "layers/sequential.h"

namespace cudanet::layers {

struct LayerTiming {
  std::string name;  // the layer's name, "loss" or "optimizer"
  std::string type;  // "Conv2d", ...; empty for loss and optimizer
  double forward_ms = 0;
  double backward_ms = 0;  // the optimizer's update counts as backward
};

struct StepProfile {
  std::vector<LayerTiming> rows;  // the layers in order, then loss and optimizer
  int steps = 0;                  // timed steps the times are averaged over
  std::string device;             // "cuda:0 (CUDA events)" or "cpu (steady clock)"

  double total_ms() const;
  // A table: layer, type, forward ms, backward ms, share of the step (%), then the total.
  std::string table() const;
};

// Runs `warmup` untimed steps, then `steps` timed ones of `net` on (x, labels) (labels int64 [N]
// on x's device) and returns the times per step, averaged. `update` is the optimizer step (may be
// empty); gradients are zeroed before each step. ValueError unless steps >= 1 and warmup >= 0.
StepProfile profile_training_step(Sequential& net, const Tensor& x, const Tensor& labels, int steps,
                                  int warmup, const std::function<void()>& update);

}  // namespace cudanet::layers
