// TrainStep: one training step (zero_grad, forward, loss, backward, optimizer update), run
// eagerly or, with use_graph on a GPU, captured once as a CUDA graph and replayed.
//
//   TrainStep step(model, optimizer, {.use_graph = true});
//   StepOutput o = step.run(batch.images, batch.labels);  // o.loss, o.logits on the device
//
// Note: the graph mode, and what it relies on.
//  - The step runs on a stream of its own (a capture cannot use the legacy default stream),
//    ordered after the caller's current stream by an event, and the caller's stream waits for
//    the step in turn, so callers see ordinary stream semantics.
//  - Batches of one shape (the batch size) are copied into static device buffers. The first
//    `warmup` steps run eagerly on those buffers, which fills the caching allocator with every
//    block the step needs and lets libraries pick their algorithms; the next step is captured and
//    every later one replays the graph: no allocation, no launch overhead, zero cudaMalloc.
//    Until the first capture, a larger batch restarts the warm-up on its shape (so a short first
//    batch does not fix the graph's shape); smaller batches (an epoch's partial last batch, even
//    before the capture, when an epoch has no more full batches than the warm-up) and, after
//    the capture, other shapes run eagerly.
//  - The graph's temporaries were freed back to the step stream's pool during capture; work on
//    that stream between replays may reuse them, which is safe because the stream orders it
//    before or after a whole replay and no temporary lives from one replay to the next (the same
//    holds for the activations the layers saved during the capture, which an eager step may free
//    and reuse: the next replay rewrites them before reading them). Segments must not be released
//    while the graph exists: the graph (train/cuda_graph.h) keeps the step stream's allocator
//    segments reserved, so neither empty_cache() nor an out-of-memory flush releases them.
//    With caching bypassed (CUDANET_NO_CACHING=1, as under compute-sanitizer) the steps run
//    eagerly, since freed temporaries would go back to the driver; so do they with synchronised
//    launches (CUDANET_SYNC_LAUNCHES=1), whose cudaDeviceSynchronize a capture forbids.
//  - The optimizer's step count advances on every replay (Optimizer::count_replayed_step).
//  - The returned logits and loss of a graph step are the graph's static outputs: the next step
//    overwrites them, so read (or copy) them before calling run() again.
//  - Scalars baked in at capture: the learning rate and the dropout generators' seeds (a step
//    whose optimizer's lr() or a generator's seed differs from the captured one captures again;
//    the trainer also calls invalidate() at each epoch). Dropout offsets are not baked in: while
//    capturing, the step installs a kernels::DropoutReplayShifts, and before each replay it sets
//    per generator the shift from the captured offset to the generator's current one and
//    advances the generator, so every replay draws the masks the same step run eagerly would
//    (the generators must outlive the TrainStep's graph). SGD only (Adam's
//    bias correction depends on the step count), no gradient clipping (it reads the norm on the
//    host). Labels are range-checked on the host by the eager steps only (a capture skips the
//    check: it cannot read device memory); in a replay a label outside [0, classes) makes the
//    loss NaN (the CUDA kernel never reads outside the row), which the trainer reports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/stream.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "train/cuda_graph.h"
#include "train/optimizer.h"

namespace cudanet::kernels {
class DropoutReplayShifts;
}  // namespace cudanet::kernels

namespace cudanet::train {

class AnomalyDetector;

struct TrainStepOptions {
  bool use_graph = false;
  int warmup = 3;  // eager steps on the static buffers before the capture
  // Eager steps only (both read values on the host, which a captured graph cannot):
  double clip_grad_norm = 0;           // clip the global gradient norm (0: off)
  AnomalyDetector* anomaly = nullptr;  // checks every layer's values (train/anomaly.h)
};

// Throws ValueError unless a CUDA graph can replay such steps: the sgd optimizer (`optimizer`:
// its name, as Optimizer::type() gives it), no gradient clipping, no anomaly detection. Checked
// by TrainStep and, before a run starts, by the trainer's validate_config.
void check_graph_step_options(const std::string& optimizer, double clip_grad_norm, bool anomaly);

struct StepOutput {
  Tensor logits;
  Tensor loss;  // one element
};

class TrainStep {
 public:
  // Throws ValueError when use_graph is asked for with an optimizer other than SGD, gradient
  // clipping or anomaly detection.
  TrainStep(layers::Sequential& model, Optimizer& optimizer, TrainStepOptions options);
  ~TrainStep();

  StepOutput run(const Tensor& images, const Tensor& labels);
  // The next graph step captures again (after a learning-rate change).
  void invalidate();

  bool uses_graph() const { return options_.use_graph; }
  std::int64_t captures() const { return captures_; }
  std::int64_t replays() const { return replays_; }

 private:
  StepOutput eager(const Tensor& images, const Tensor& labels);
  StepOutput graphed(const Tensor& images, const Tensor& labels);

  layers::Sequential& model_;
  Optimizer& optimizer_;
  TrainStepOptions options_;
  layers::CrossEntropyLoss loss_fn_;
  // Graph mode.
  Stream stream_;
  Event ready_, done_;
  Tensor static_images_, static_labels_;
  StepOutput static_out_;
  std::int64_t eager_on_static_ = 0;
  double captured_lr_ = 0;  // the optimizer's learning rate when graph_ was captured
  std::unique_ptr<kernels::DropoutReplayShifts> dropout_shifts_;  // per-replay dropout offsets
  CudaGraph graph_;
  std::int64_t captures_ = 0, replays_ = 0;
};

}  // namespace cudanet::train
