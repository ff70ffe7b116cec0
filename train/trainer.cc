#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <sstream>

#include "core/cuda_runtime.h"
#include "core/nvtx.h"
#include "kernels/common.h"
#include "kernels/reduce.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "train/anomaly.h"
#include "train/atomic_file.h"
#include "train/checkpoint.h"
#include "train/early_stopping.h"
#include "train/fashion_mnist.h"
#include "train/image_folder.h"
#include "train/image_trainer.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/train_step.h"

namespace cudanet::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Correct predictions of `logits` [B, C] for `labels` [B].
std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const std::vector<std::int64_t> pred = kernels::argmax_dim1(logits).to_vector<std::int64_t>();
  const std::vector<std::int64_t> want = labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == want[i];
  return correct;
}

struct Data {
  Dataset train, validation, test;
};

// Splits --data into its kind and directory ("" for the default one).
void parse_data_spec(const std::string& spec, std::string* kind, std::string* dir) {
  *kind = spec;
  dir->clear();
  const auto colon = spec.find(':');
  if (colon != std::string::npos) {
    *kind = spec.substr(0, colon);
    *dir = spec.substr(colon + 1);
  }
  CUDANET_CHECK(*kind == "fashion-mnist" || *kind == "mnist", ValueError, "unknown data set '",
                spec, "': expected fashion-mnist, fashion-mnist:DIR or mnist:DIR");
  CUDANET_CHECK(*kind == "fashion-mnist" || !dir->empty(), ValueError,
                "mnist needs its directory: --data mnist:DIR");
}

Data load_data(const TrainConfig& c) {
  std::string kind, dir;
  parse_data_spec(c.data, &kind, &dir);
  const std::string where = dir.empty() ? kFashionMnistDir : dir;
  const ChannelStats stats = fashion_mnist_stats();
  Data d;
  Dataset full =
      kind == "fashion-mnist"
          ? load_fashion_mnist(where, MnistSubset::kTrain, stats)
          : make_dataset(read_mnist_format(where, MnistSubset::kTrain, 10, "MNIST"), stats, 10);
  d.test = kind == "fashion-mnist"
               ? load_fashion_mnist(where, MnistSubset::kTest, stats)
               : make_dataset(read_mnist_format(where, MnistSubset::kTest, 10, "MNIST"), stats, 10);
  CUDANET_CHECK(c.validation_size >= 0 && c.validation_size < full.size(), ValueError,
                "validation size ", c.validation_size, " must be in [0, ", full.size(), ")");
  TrainValidationSplit split =
      split_train_validation(full, c.validation_size, SplitMode::kRandom, c.seed);
  d.train = split.train;
  d.validation = split.validation;
  if (c.train_limit > 0 && c.train_limit < d.train.size())
    d.train = d.train.narrow(0, c.train_limit);
  return d;
}

void check_numbers(const TrainConfig& c) {
  CUDANET_CHECK(c.epochs > 0, ValueError, "epochs must be > 0, got ", c.epochs);
  CUDANET_CHECK(c.batch_size > 0, ValueError, "batch size must be > 0, got ", c.batch_size);
  CUDANET_CHECK(c.lr >= 0, ValueError, "learning rate must be >= 0, got ", c.lr);
  CUDANET_CHECK(c.clip_grad_norm >= 0, ValueError, "clip-grad-norm must be >= 0, got ",
                c.clip_grad_norm);
  CUDANET_CHECK(c.patience >= 0, ValueError, "patience must be >= 0, got ", c.patience);
  CUDANET_CHECK(c.stop_after >= 0, ValueError, "stop-after must be >= 0, got ", c.stop_after);
  CUDANET_CHECK(!c.resume || !c.checkpoint_dir.empty(), ValueError,
                "--resume needs --checkpoint-dir");
}

// Restores the deterministic-kernels switch when a run ends.
class DeterministicScope {
 public:
  explicit DeterministicScope(bool on) : was_(kernels::deterministic()) {
    if (on) kernels::set_deterministic(true);
  }
  DeterministicScope(const DeterministicScope&) = delete;
  DeterministicScope& operator=(const DeterministicScope&) = delete;
  ~DeterministicScope() { kernels::set_deterministic(was_); }

 private:
  bool was_;
};

std::string jsonl_path(const std::string& metrics_out) {
  std::filesystem::path p(metrics_out);
  return (p.parent_path() / p.stem()).string() + ".jsonl";
}

TrainResult train_model(const TrainConfig& c, std::ostream& out);

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, NamedParameters params,
                                          double default_sgd_lr) {
  if (c.optimizer == "sgd") {
    kernels::SgdParams p;
    p.lr = c.lr > 0 ? c.lr : default_sgd_lr;
    p.momentum = c.momentum;
    p.nesterov = c.nesterov;
    p.weight_decay = c.weight_decay;
    p.l1 = c.l1;
    return std::make_unique<Sgd>(std::move(params), p);
  }
  if (c.optimizer == "adam" || c.optimizer == "adamw") {
    kernels::AdamParams p;
    p.lr = c.lr > 0 ? c.lr : 1e-3;
    p.weight_decay = c.weight_decay;
    p.decoupled = c.optimizer == "adamw";
    return std::make_unique<Adam>(std::move(params), p);
  }
  CUDANET_THROW(ValueError, "unknown optimizer '", c.optimizer, "': expected sgd, adam or adamw");
}

LrSchedule make_schedule(const TrainConfig& c, double base_lr) {
  const std::string text = c.schedule.empty() ? default_schedule(c.model, c.epochs) : c.schedule;
  if (text == "cosine") return LrSchedule::cosine(base_lr, c.epochs);
  return parse_lr_schedule(text, base_lr);
}

void validate_config(const TrainConfig& c) {
  check_numbers(c);
  if (!is_image_dataset_spec(c.data)) {  // JPEG sets are checked when they are opened
    std::string kind, dir;
    parse_data_spec(c.data, &kind, &dir);
    // The JPEG pipeline's options would be silently ignored here.
    const char* jpeg_only = !c.val_data.empty() ? "--val"
                            : c.workers != 0    ? "--workers"
                            : c.strict          ? "--strict"
                                                : nullptr;
    CUDANET_CHECK(jpeg_only == nullptr, ValueError, jpeg_only,
                  " applies to JPEG data sets (--data imagefolder:DIR or list:FILE), not to ",
                  c.data);
  }
  CUDANET_CHECK(c.optimizer == "sgd" || c.optimizer == "adam" || c.optimizer == "adamw", ValueError,
                "unknown optimizer '", c.optimizer, "': expected sgd, adam or adamw");
  CUDANET_CHECK(c.patience == 0 || c.validation_size > 0 || !c.val_data.empty(), ValueError,
                "--patience ", c.patience, " stops on validation accuracy, but there is no ",
                "validation set (--validation-size 0 and no --val)");
  if (c.cuda_graph) check_graph_step_options(c.optimizer, c.clip_grad_norm, c.detect_anomaly);
  make_schedule(c, c.lr > 0 ? c.lr : 0.02);
  if (c.device != "auto") Device::parse(c.device);
}

TrainResult run_training(const TrainConfig& c, std::ostream& out) {
  validate_config(c);
  const DeterministicScope deterministic(c.deterministic);
  try {
    if (is_image_dataset_spec(c.data)) return run_image_training(c, out);  // JPEG data sets
    return train_model(c, out);
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(
        detail::str(e.message(), "\nwhile training ", c.model, " with batch size ", c.batch_size,
                    " on device ", c.device, "; try a smaller batch, e.g. --batch-size ",
                    std::max<std::int64_t>(1, c.batch_size / 2)),
        e.file(), e.line(), e.requested_bytes());
  }
}

bool finish_epoch(const TrainConfig& c, std::int64_t epoch, double val_accuracy,
                  EarlyStopping& stopper, const std::string& last_path, layers::Sequential& model,
                  Optimizer& optimizer, Generator& dropout_rng, ProgressReporter& progress) {
  const bool stop =
      c.patience > 0 && stopper.step(val_accuracy, epoch + 1) && stopper.should_stop();
  if (!last_path.empty()) {
    CheckpointInfo info{c.model, epoch + 1, {}};
    if (c.patience > 0) stopper.save_state(info.extra);
    save_checkpoint(last_path, model, &optimizer, &dropout_rng, info);
  }
  if (stop) {
    progress.message(detail::str("early stopping: no improvement for ", c.patience, " epochs"));
  }
  return stop;
}

std::string run_settings(const TrainConfig& c, const Device& device) {
  std::ostringstream s;
  s << "device " << device << ", backend " << layers::backend_name(c.backend) << ", batch "
    << c.batch_size << ", " << c.epochs << " epochs";
  if (c.cuda_graph) s << (device.is_cuda() ? ", CUDA graph" : " (--cuda-graph: not on a CPU)");
  return s.str();
}

ConfiguredStep make_train_step(const TrainConfig& c, layers::Sequential& model,
                               Optimizer& optimizer, Device device) {
  ConfiguredStep s;
  TrainStepOptions so;
  so.use_graph = c.cuda_graph && device.is_cuda();
  so.clip_grad_norm = c.clip_grad_norm;
  if (c.detect_anomaly) s.anomaly = std::make_unique<AnomalyDetector>(model);
  so.anomaly = s.anomaly.get();
  s.step = std::make_unique<TrainStep>(model, optimizer, so);
  return s;
}

Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda::is_available() ? Device::cuda(0) : Device::cpu();
  const Device d = Device::parse(name);
  if (d.is_cuda()) cuda::require_device(d.index());
  return d;
}

EvalResult evaluate(layers::Sequential& model, DataLoader& loader) {
  CUDANET_RANGE("evaluate");
  layers::CrossEntropyLoss loss;
  EvalResult r;
  double loss_sum = 0;
  std::int64_t correct = 0;
  loader.start_epoch(0);
  Batch b;
  while (loader.next(b)) {
    const Tensor logits = model.forward(b.images, layers::Mode::kEval);
    loss_sum += loss.forward(logits, b.labels).item() * static_cast<double>(b.size());
    correct += count_correct(logits, b.labels);
    r.samples += b.size();
  }
  if (r.samples > 0) {
    r.loss = loss_sum / static_cast<double>(r.samples);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.samples);
  }
  return r;
}

namespace {

TrainResult train_model(const TrainConfig& c, std::ostream& out) {
  const Device device = resolve_device(c.device);
  Data data = load_data(c);
  out << "cudanet train: " << c.model << " on " << c.data << " (" << data.train.size()
      << " train / " << data.validation.size() << " validation / " << data.test.size() << " test), "
      << run_settings(c, device) << "\n";

  Generator init_rng(c.seed);
  auto model = layers::make_model(c.model, init_rng);
  CUDANET_CHECK(data.train.sample_shape() == layers::model_input_shape(c.model), ValueError,
                "model ", c.model, " takes samples of shape ",
                shape_str(layers::model_input_shape(c.model)), ", the data has ",
                shape_str(data.train.sample_shape()));
  model->to(device);
  model->set_backend(c.backend);
  layers::set_layer_backends(*model, c.layer_backends);
  Generator dropout_rng(c.seed ^ 0x5eedull);
  for (std::size_t i = 0; i < model->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&model->at(i))) d->set_generator(&dropout_rng);
  }
  auto optimizer = make_optimizer(c, model->named_parameters(""));
  const LrSchedule schedule = make_schedule(c, optimizer->lr());
  EarlyStopping stopper(c.patience > 0 ? c.patience : 1);

  DataLoaderOptions train_opts;
  train_opts.batch_size = c.batch_size;
  train_opts.seed = c.seed;
  train_opts.device = device;
  DataLoader train_loader(data.train, train_opts);
  DataLoaderOptions eval_opts = train_opts;
  eval_opts.shuffle = false;
  eval_opts.batch_size = std::max<std::int64_t>(c.batch_size, 256);
  DataLoader val_loader(data.validation, eval_opts);
  DataLoader test_loader(data.test, eval_opts);

  const std::string last_path =
      c.checkpoint_dir.empty()
          ? ""
          : (std::filesystem::path(c.checkpoint_dir) / "last.safetensors").string();
  std::int64_t start_epoch = 0;
  std::unique_ptr<MetricsLog> log;
  if (!c.checkpoint_dir.empty()) {
    std::filesystem::create_directories(c.checkpoint_dir);
  }
  if (c.resume) {  // what a run killed while writing its files left behind
    for (const std::string& file :
         {last_path, c.metrics_out, c.metrics_out.empty() ? "" : jsonl_path(c.metrics_out)}) {
      for (const std::string& stale : remove_stale_temporaries(file)) {
        out << "removed " << stale << ", left by an interrupted run\n";
      }
    }
  }
  if (c.resume && std::filesystem::exists(last_path)) {
    CheckpointInfo info =
        load_checkpoint(last_path, *model, optimizer.get(), &dropout_rng, c.model);
    start_epoch = info.epoch;
    if (c.patience > 0) stopper.load_state(info.extra);
    out << "resumed from " << last_path << " after epoch " << start_epoch << "\n";
  } else if (c.resume) {
    out << "no checkpoint at " << last_path << "; starting from scratch\n";
  }
  TrainResult result;
  if (!c.metrics_out.empty()) {
    const std::filesystem::path parent = std::filesystem::path(c.metrics_out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    const std::string jsonl = jsonl_path(c.metrics_out);
    std::string problem;
    result.epochs = truncate_metrics_log(jsonl, start_epoch, &problem);
    if (!problem.empty()) out << "starting a new metrics log: " << problem << "\n";
    log = std::make_unique<MetricsLog>(jsonl, /*append=*/start_epoch > 0);
  }

  result.device = device.str();
  const ConfiguredStep configured = make_train_step(c, *model, *optimizer, device);
  AnomalyDetector* const anomaly = configured.anomaly.get();
  TrainStep& train_step = *configured.step;
  std::ostringstream discard;
  ProgressReporter progress(c.quiet ? discard : out, ProgressOptions::for_stdout());
  const std::int64_t end_epoch =
      c.stop_after > 0 ? std::min(c.epochs, start_epoch + c.stop_after) : c.epochs;
  for (std::int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const auto t0 = Clock::now();
    optimizer->set_lr(schedule.lr_at(epoch));
    train_step.invalidate();  // the learning rate is baked into a captured step
    train_loader.start_epoch(epoch);
    progress.start_epoch(epoch + 1, c.epochs, train_loader.num_batches());
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0, step = 0;
    Batch b;
    while (train_loader.next(b)) {
      if (anomaly) anomaly->set_step(epoch + 1, step + 1);
      // Read the outputs before the next step: a graph step's are overwritten by the next replay.
      const StepOutput o = train_step.run(b.images, b.labels);
      const double loss = o.loss.item();
      if (!std::isfinite(loss)) {
        progress.end_epoch();
        throw_non_finite_loss(loss, epoch + 1, step + 1, last_path, c.detect_anomaly);
      }
      loss_sum += loss * static_cast<double>(b.size());
      correct += count_correct(o.logits, b.labels);
      seen += b.size();
      ++step;
      progress.update(step, seen, loss_sum / static_cast<double>(seen),
                      static_cast<double>(correct) / static_cast<double>(seen));
    }
    const double train_seconds = seconds_since(t0);
    progress.end_epoch();
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = loss_sum / static_cast<double>(std::max<std::int64_t>(seen, 1));
    m.train_accuracy =
        static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(seen, 1));
    const EvalResult val = evaluate(*model, val_loader);
    m.val_loss = val.loss;
    m.val_accuracy = val.accuracy;
    m.lr = optimizer->lr();
    m.images_per_sec = static_cast<double>(seen) / train_seconds;
    m.seconds = seconds_since(t0);
    result.epochs.push_back(m);
    if (log) log->write(m);
    progress.message(detail::str(
        "epoch ", epoch + 1, "/", c.epochs, ": train loss ", m.train_loss, " acc ",
        m.train_accuracy * 100, "%, ",
        val.samples > 0 ? detail::str("val loss ", m.val_loss, " acc ", m.val_accuracy * 100, "%")
                        : std::string("no validation set"),
        ", ", static_cast<std::int64_t>(m.images_per_sec), " img/s"));
    if (finish_epoch(c, epoch, m.val_accuracy, stopper, last_path, *model, *optimizer, dropout_rng,
                     progress)) {
      result.stopped_early = true;
      break;
    }
  }
  result.test = evaluate(*model, test_loader);
  result.train_images_per_sec = median_images_per_sec(result.epochs);
  out << "test accuracy " << result.test.accuracy * 100 << "% (loss " << result.test.loss << ", "
      << result.test.samples << " images)";
  if (train_step.uses_graph()) {
    out << "; CUDA graph: " << train_step.captures() << " captures, " << train_step.replays()
        << " replays";
  }
  out << "\n";
  if (!c.metrics_out.empty()) {
    JsonSummary s;
    s.set("model", c.model)
        .set("device", device.str())
        .set("backend", layers::backend_name(c.backend))
        .set("epochs", static_cast<std::int64_t>(result.epochs.size()))
        .set("batch_size", c.batch_size)
        .set("test_accuracy", result.test.accuracy)
        .set("test_loss", result.test.loss)
        .set("train_images_per_sec", result.train_images_per_sec)
        .set("stopped_early", result.stopped_early)
        .set("history", result.epochs);
    s.write(c.metrics_out);
  }
  return result;
}

}  // namespace

}  // namespace cudanet::train
