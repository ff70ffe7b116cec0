// The trainer: epochs of mini-batch training with evaluation after each, progress output, a
// metrics log, checkpoints and exact resume, early stopping, and a final test evaluation.
//
// Note: with the same configuration and seed a run is reproducible on the CPU, and a run resumed
// from its last checkpoint continues exactly as the uninterrupted run would (the data order
// depends only on (seed, epoch); the checkpoint holds the parameters, the optimizer state and the
// dropout generator).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"
#include "layers/sequential.h"
#include "train/data_loader.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"
#include "train/optimizer.h"

namespace cudanet::train {

struct TrainConfig {
  std::string model = "lenet5";
  std::string data = "fashion-mnist";  // "fashion-mnist", "fashion-mnist:DIR" or "mnist:DIR"
  std::int64_t epochs = 10;
  std::int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd, adam, adamw
  double lr = 0;                  // 0: 0.02 for sgd, 1e-3 for adam / adamw
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  double l1 = 0;
  std::string schedule = "cosine";  // see parse_lr_schedule; "cosine" alone spans all epochs
  double clip_grad_norm = 0;        // 0: off
  std::int64_t patience = 0;        // early stopping on validation accuracy; 0: off
  std::int64_t validation_size = 5000;
  std::int64_t train_limit = 0;  // use only this many training samples (0: all)
  std::string device = "auto";   // auto, cpu, cuda, cuda:N
  layers::Backend backend = layers::Backend::kNative;
  std::string
      layer_backends;  // per-layer overrides, "conv1=native,fc6=cudnn" (see set_layer_backends)
  std::uint64_t seed = 1;
  std::string metrics_out;     // final summary JSON ("" = none); epochs go to <stem>.jsonl
  std::string checkpoint_dir;  // "" = no checkpoints
  bool resume = false;
  std::int64_t stop_after = 0;  // end this run after this many epochs (0: at `epochs`), as an
                                // interruption would; --resume then continues the same schedule
  bool quiet = false;           // no progress lines (tests)
  bool deterministic = false;   // bitwise repeatable: kernels::set_deterministic for the run
  bool detect_anomaly = false;  // check every layer's outputs and gradients (train/anomaly.h)
  // JPEG data sets (--data imagefolder:DIR or list:FILE; see train/image_trainer.h).
  std::string val_data;      // imagefolder:DIR or list:FILE ("": hold out validation_size images)
  std::int64_t workers = 0;  // decoding threads (0: one per core)
  bool strict = false;       // an unreadable image is an error instead of a skipped sample
  bool cuda_graph = false;   // capture the training step as a CUDA graph and replay it
};

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // fraction in [0, 1]
  double top5 = 0;      // top-5 accuracy (JPEG data sets)
  std::int64_t samples = 0;
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  EvalResult test;
  double train_images_per_sec = 0;  // median over epochs after the first
  bool stopped_early = false;
  std::string device;
};

// Mean loss and accuracy of `model` in evaluation mode over every batch of `loader`.
EvalResult evaluate(layers::Sequential& model, DataLoader& loader);

// Runs the whole training described by `config`, printing progress to `out`. Throws ValueError
// for a bad configuration, IoError for unreadable data or checkpoints, NonFiniteError
// (train/anomaly.h) when the loss -- or with detect_anomaly any layer's output or gradient --
// becomes non-finite (naming the epoch, step, layer and tensor; the last good checkpoint stays
// intact), and OutOfMemoryError naming the batch size with a smaller one to try.
//
// Note: a checkpoint is written after every epoch, atomically (train/atomic_file.h): a run killed
// at any moment leaves the previous checkpoint or the new one, and resume removes the temporary
// files such a kill leaves behind. With `deterministic` (set for the run, restored afterwards) a
// run is bitwise repeatable on the CPU and with the hand-written GPU kernels, and a run resumed
// with `resume` ends with exactly the weights of the uninterrupted run.
TrainResult run_training(const TrainConfig& config, std::ostream& out);

// Checks `config` without running it: numbers in range, the optimizer, schedule, data and device
// specifications well formed. Throws ValueError naming the offending field.
void validate_config(const TrainConfig& config);

// The optimizer `config` names over `params`: SGD (learning rate `default_sgd_lr` when
// config.lr is 0), Adam or AdamW (1e-3). Throws ValueError for another name.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& config, NamedParameters params,
                                          double default_sgd_lr = 0.02);
// The learning-rate schedule of `config` from `base_lr`; an empty config.schedule means the
// model's default (default_schedule in train/image_trainer.h).
LrSchedule make_schedule(const TrainConfig& config, double base_lr);

// Resolves "auto" (a GPU when one is available), "cpu", "cuda" or "cuda:N".
Device resolve_device(const std::string& name);

class AnomalyDetector;
class EarlyStopping;
class ProgressReporter;
class TrainStep;

// The end of an epoch in both trainers, after its metrics: with config.patience, feeds `stopper`
// the validation accuracy; writes the checkpoint (with the stopper's state) when `last_path` is
// not empty; returns whether training stops early (and says so through `progress`).
bool finish_epoch(const TrainConfig& config, std::int64_t epoch, double val_accuracy,
                  EarlyStopping& stopper, const std::string& last_path, layers::Sequential& model,
                  Optimizer& optimizer, Generator& dropout_rng, ProgressReporter& progress);

// The training step both trainers run: `config`'s gradient clipping, a CUDA graph with
// config.cuda_graph on a GPU (eager on the CPU), and with config.detect_anomaly the detector the
// step reports through (set_step before each step). Include train/anomaly.h and
// train/train_step.h where it is used.
struct ConfiguredStep {
  std::unique_ptr<AnomalyDetector> anomaly;
  std::unique_ptr<TrainStep> step;
};
ConfiguredStep make_train_step(const TrainConfig& config, layers::Sequential& model,
                               Optimizer& optimizer, Device device);

// The run's settings as both trainers' first line ends: "device cuda:0, backend native, batch
// 64, 10 epochs", then ", CUDA graph" (or that --cuda-graph does nothing on a CPU).
std::string run_settings(const TrainConfig& config, const Device& device);

}  // namespace cudanet::train
