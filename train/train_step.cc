#include "train/train_step.h"

#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/nvtx.h"
#include "kernels/dropout.h"
#include "train/anomaly.h"

namespace cudanet::train {

void check_graph_step_options(const std::string& optimizer, double clip_grad_norm, bool anomaly) {
  CUDANET_CHECK(optimizer == "sgd", ValueError, "--cuda-graph supports the sgd optimizer, not ",
                optimizer, " (Adam's bias correction changes every step)");
  CUDANET_CHECK(clip_grad_norm == 0 && !anomaly, ValueError,
                "--cuda-graph cannot clip gradients or detect anomalies (both read values on the "
                "host); drop one of them");
}

TrainStep::TrainStep(layers::Sequential& model, Optimizer& optimizer, TrainStepOptions options)
    : model_(model), optimizer_(optimizer), options_(options) {
  if (options_.use_graph) {
    check_graph_step_options(optimizer.type(), options_.clip_grad_norm,
                             options_.anomaly != nullptr);
  }
  CUDANET_CHECK(options_.warmup >= 1, ValueError, "TrainStep: warmup must be >= 1, got ",
                options_.warmup);
}

TrainStep::~TrainStep() = default;

void TrainStep::invalidate() {
  graph_.reset();
}

StepOutput TrainStep::eager(const Tensor& images, const Tensor& labels) {
  model_.zero_grad();
  StepOutput o;
  AnomalyDetector* anomaly = options_.anomaly;
  o.logits = anomaly ? anomaly->forward(images, layers::Mode::kTrain)
                     : model_.forward(images, layers::Mode::kTrain);
  o.loss = loss_fn_.forward(o.logits, labels);
  if (anomaly) {
    anomaly->backward_parameters(loss_fn_.backward());
  } else {
    model_.backward_parameters(loss_fn_.backward());
  }
  if (options_.clip_grad_norm > 0)
    clip_grad_norm(model_.named_parameters(""), options_.clip_grad_norm);
  optimizer_.step();
  if (anomaly) anomaly->check_parameters();
  return o;
}

StepOutput TrainStep::run(const Tensor& images, const Tensor& labels) {
  CUDANET_RANGE("train_step");
  // Without caching (CUDANET_NO_CACHING=1) the capture's temporaries would be cudaFree'd while
  // the graph still uses them: such runs (compute-sanitizer) train eagerly.
  // Synchronised launches (CUDANET_SYNC_LAUNCHES) call cudaDeviceSynchronize after every kernel,
  // which is illegal while a stream is being captured: such debugging runs train eagerly too.
  if (!options_.use_graph || !images.device().is_cuda() ||
      cuda::caching_disabled(images.device().index()) || cuda::sync_launches()) {
    return eager(images, labels);
  }
  return graphed(images, labels);
}

StepOutput TrainStep::graphed(const Tensor& images, const Tensor& labels) {
  const Device device = images.device();
  const Stream caller = current_stream(device);
  if (!static_images_.defined()) {
    stream_ = cuda::new_stream(device.index());
    ready_ = Event(device);
    done_ = Event(device);
  }
  // The step's stream starts after the caller's work (the batch's copy included).
  ready_.record(caller);
  stream_.wait(ready_);
  StepOutput out;
  {
    cuda::StreamGuard guard(stream_);
    bool static_shape = !static_images_.defined() || (images.shape() == static_images_.shape() &&
                                                      labels.shape() == static_labels_.shape());
    if (!static_shape && !graph_.ready() && captures_ == 0 &&
        images.shape()[0] > static_images_.shape()[0]) {
      // Nothing captured yet and a larger batch: the graph takes its shape (a short first batch
      // must not leave every full batch eager), and the warm-up starts again on it. A smaller
      // one (an epoch's partial last batch) runs eagerly and keeps the warm-up count.
      static_images_ = Tensor::empty(images.shape(), images.dtype(), device);
      static_labels_ = Tensor::empty(labels.shape(), labels.dtype(), device);
      eager_on_static_ = 0;
      static_shape = true;
    }
    if (!static_shape) {
      out = eager(images, labels);  // e.g. the last, partial batch
    } else {
      if (!static_images_.defined()) {
        static_images_ = Tensor::empty(images.shape(), images.dtype(), device);
        static_labels_ = Tensor::empty(labels.shape(), labels.dtype(), device);
        dropout_shifts_ = std::make_unique<kernels::DropoutReplayShifts>(device);
      }
      static_images_.copy_(images);
      static_labels_.copy_(labels);
      // The learning rate and the dropout seeds are baked into the graph: a change (without
      // invalidate()) captures again.
      if (graph_.ready() &&
          (optimizer_.lr() != captured_lr_ || !dropout_shifts_->seeds_unchanged()))
        graph_.reset();
      if (!graph_.ready() && eager_on_static_ < options_.warmup) {
        static_out_ = eager(static_images_, static_labels_);
        ++eager_on_static_;
      } else {
        bool captured_now = false;
        if (!graph_.ready()) {
          static_out_ = StepOutput();  // the capture allocates the outputs anew
          captured_lr_ = optimizer_.lr();
          dropout_shifts_->begin_capture();
          graph_.begin_capture(stream_);
          kernels::DropoutReplayShifts* const previous =
              kernels::set_dropout_replay_shifts(dropout_shifts_.get());
          try {
            static_out_ = eager(static_images_, static_labels_);
            kernels::set_dropout_replay_shifts(previous);
            graph_.end_capture();
          } catch (...) {
            kernels::set_dropout_replay_shifts(previous);
            graph_.abort_capture();
            throw;
          }
          ++captures_;
          captured_now = true;
        }
        // Fresh dropout masks: the offsets an eager step would draw with (kernels/dropout.h).
        dropout_shifts_->prepare_replay(captured_now);
        graph_.replay(stream_);
        ++replays_;
        // The capture ran optimizer.step() once on the host (for this first replay); every later
        // replay is a step the optimizer did not see: keep its step count (checkpoints) right.
        if (!captured_now) optimizer_.count_replayed_step();
      }
      out = static_out_;
    }
    // The inputs were read on this stream: their blocks must not be reused before it passes here.
    images.storage().record_stream(stream_);
    labels.storage().record_stream(stream_);
  }
  done_.record(stream_);
  caller.wait(done_);
  return out;
}

}  // namespace cudanet::train
