#include "train/image_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <ostream>
#include <sstream>

#include "core/cuda_allocator.h"
#include "core/nvtx.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "train/anomaly.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/early_stopping.h"
#include "train/image_loader.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/train_step.h"

namespace cudanet::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

ImageList pick(const ImageList& l, const std::vector<std::int64_t>& idx) {
  ImageList out;
  out.classes = l.classes;
  for (std::int64_t i : idx) {
    out.paths.push_back(l.paths[static_cast<std::size_t>(i)]);
    out.labels.push_back(l.labels[static_cast<std::size_t>(i)]);
  }
  return out;
}

struct Lists {
  ImageList train, validation;
};

Lists load_lists(const TrainConfig& c) {
  Lists l;
  ImageList all = load_image_list(c.data);
  if (!c.val_data.empty()) {
    l.train = std::move(all);
    l.validation = load_image_list(c.val_data, l.train.num_classes());
    CUDANET_CHECK(l.validation.num_classes() == l.train.num_classes(), ValueError,
                  "the validation set has ", l.validation.num_classes(),
                  " classes, the training set ", l.train.num_classes());
  } else {
    const std::int64_t n = all.size();
    const std::int64_t held = std::min(c.validation_size, n / 5);
    std::vector<std::int64_t> perm = random_permutation(n, c.seed);
    std::vector<std::int64_t> val(perm.begin(), perm.begin() + held);
    std::vector<std::int64_t> train(perm.begin() + held, perm.end());
    std::sort(val.begin(), val.end());
    std::sort(train.begin(), train.end());
    l.validation = pick(all, val);
    l.train = pick(all, train);
  }
  if (c.train_limit > 0 && c.train_limit < l.train.size()) {
    l.train.paths.resize(static_cast<std::size_t>(c.train_limit));
    l.train.labels.resize(static_cast<std::size_t>(c.train_limit));
  }
  return l;
}

}  // namespace

EvalResult evaluate_images(layers::Sequential& model, ImageLoader& loader) {
  CUDANET_RANGE("evaluate");
  layers::CrossEntropyLoss loss;
  EvalResult r;
  double loss_sum = 0;
  TopK hits;
  loader.start_epoch(0);
  Batch b;
  while (loader.next(b)) {
    const Tensor logits = model.forward(b.images, layers::Mode::kEval);
    loss_sum += loss.forward(logits, b.labels).item() * static_cast<double>(b.size());
    const TopK k = count_topk(logits, b.labels);
    hits.top1 += k.top1;
    hits.top5 += k.top5;
    r.samples += b.size();
  }
  if (r.samples > 0) {
    const auto n = static_cast<double>(r.samples);
    r.loss = loss_sum / n;
    r.accuracy = static_cast<double>(hits.top1) / n;
    r.top5 = static_cast<double>(hits.top5) / n;
  }
  return r;
}

ImageLoaderOptions image_loader_options(const std::string& model, std::int64_t batch_size,
                                        Device device, int workers, bool training) {
  const Shape input = layers::model_input_shape(model);
  CUDANET_CHECK(input.size() == 3 && input[0] == 3 && input[1] == input[2], ValueError, "model ",
                model, " takes ", shape_str(input),
                " samples; JPEG data sets need an RGB model (alexnet or alexnet-owt)");
  ImageLoaderOptions o;
  o.batch_size = batch_size;
  o.device = device;
  o.workers = workers;
  o.shuffle = training;
  o.transform.random = training;
  o.transform.crop = static_cast<int>(input[1]);
  o.transform.resize = std::max(256, o.transform.crop);
  return o;
}

bool is_alexnet(const std::string& model) {
  return model == "alexnet" || model == "alexnet-owt";
}

std::string default_schedule(const std::string& model, std::int64_t epochs) {
  if (!is_alexnet(model)) return "cosine";
  const std::int64_t a = std::max<std::int64_t>(1, epochs / 3);
  const std::int64_t b = std::max<std::int64_t>(a + 1, 2 * epochs / 3);
  return "multistep:" + std::to_string(a) + "," + std::to_string(b) + ":0.1";
}

TopK count_topk(const Tensor& logits, const Tensor& labels) {
  CUDANET_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
                ShapeError, "count_topk: logits ", shape_str(logits.shape()), " and labels ",
                shape_str(labels.shape()));
  const std::vector<float> x = logits.to(DType::kFloat32).to_vector<float>();
  const std::vector<std::int64_t> y = labels.to_vector<std::int64_t>();
  const std::int64_t cols = logits.size(1);
  TopK t;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const float* row = &x[i * static_cast<std::size_t>(cols)];
    const float want = row[y[i]];
    std::int64_t higher = 0;
    for (std::int64_t j = 0; j < cols; ++j) higher += row[j] > want;
    t.top1 += higher < 1;
    t.top5 += higher < 5;
  }
  return t;
}

TrainResult run_image_training(const TrainConfig& c, std::ostream& out) {
  CUDANET_CHECK(c.workers >= 0, ValueError, "workers must be >= 0, got ", c.workers);
  CUDANET_CHECK(jpeg_available(), ValueError,
                "JPEG data sets need libjpeg-turbo: this cudanet was built without TurboJPEG");
  const Device device = resolve_device(c.device);
  // (Checks that the model takes RGB images before any file is read.)
  ImageLoaderOptions lo = image_loader_options(c.model, c.batch_size, device,
                                               static_cast<int>(c.workers), /*training=*/true);
  Lists lists = load_lists(c);
  const std::int64_t num_classes = lists.train.num_classes();
  out << "cudanet train: " << c.model << " on " << c.data << " (" << lists.train.size()
      << " train / " << lists.validation.size() << " validation images, " << num_classes
      << " classes), " << run_settings(c, device) << "\n";

  Generator init_rng(c.seed);
  layers::ModelOptions mo;
  mo.num_classes = num_classes;
  auto model = layers::make_model(c.model, init_rng, mo);
  model->to(device);
  model->set_backend(c.backend);
  layers::set_layer_backends(*model, c.layer_backends);
  Generator dropout_rng(c.seed ^ 0x5eedull);
  for (std::size_t i = 0; i < model->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&model->at(i))) d->set_generator(&dropout_rng);
  }
  auto optimizer =
      make_optimizer(c, model->named_parameters(""), is_alexnet(c.model) ? 0.01 : 0.02);
  const LrSchedule schedule = make_schedule(c, optimizer->lr());

  lo.seed = c.seed;
  lo.strict = c.strict;
  ImageLoader train_loader(lists.train, lo);
  std::unique_ptr<ImageLoader> val_loader;
  if (lists.validation.size() > 0) {
    ImageLoaderOptions vo = image_loader_options(c.model, c.batch_size, device,
                                                 static_cast<int>(c.workers), /*training=*/false);
    vo.strict = c.strict;
    val_loader = std::make_unique<ImageLoader>(lists.validation, vo);
  }
  out << "data: " << train_loader.workers() << " decoding threads, crop " << lo.transform.crop
      << " of the image resized to " << lo.transform.resize << ", schedule " << schedule.str()
      << "\n";

  const std::string last_path =
      c.checkpoint_dir.empty()
          ? ""
          : (std::filesystem::path(c.checkpoint_dir) / "last.safetensors").string();
  std::int64_t start_epoch = 0;
  EarlyStopping stopper(c.patience > 0 ? c.patience : 1);  // on validation top-1
  if (!c.checkpoint_dir.empty()) std::filesystem::create_directories(c.checkpoint_dir);
  if (c.resume && std::filesystem::exists(last_path)) {
    const CheckpointInfo info =
        load_checkpoint(last_path, *model, optimizer.get(), &dropout_rng, c.model);
    start_epoch = info.epoch;
    if (c.patience > 0) stopper.load_state(info.extra);
    out << "resumed from " << last_path << " after epoch " << start_epoch << "\n";
  } else if (c.resume) {
    out << "no checkpoint at " << last_path << "; starting from scratch\n";
  }
  TrainResult result;
  result.device = device.str();
  std::unique_ptr<MetricsLog> log;
  std::string jsonl;
  if (!c.metrics_out.empty()) {
    const std::filesystem::path p(c.metrics_out);
    if (!p.parent_path().empty()) std::filesystem::create_directories(p.parent_path());
    jsonl = (p.parent_path() / p.stem()).string() + ".jsonl";
    if (start_epoch > 0 && std::filesystem::exists(jsonl)) {
      for (const EpochMetrics& m : read_metrics_log(jsonl)) {
        if (m.epoch <= start_epoch) result.epochs.push_back(m);
      }
    }
    log = std::make_unique<MetricsLog>(jsonl, /*append=*/false);
    for (const EpochMetrics& m : result.epochs) log->write(m);
  }

  const ConfiguredStep configured = make_train_step(c, *model, *optimizer, device);
  AnomalyDetector* const anomaly = configured.anomaly.get();
  TrainStep& step = *configured.step;
  std::ostringstream discard;
  ProgressReporter progress(c.quiet ? discard : out, ProgressOptions::for_stdout());
  const std::int64_t end_epoch =
      c.stop_after > 0 ? std::min(c.epochs, start_epoch + c.stop_after) : c.epochs;
  std::vector<double> top5;
  for (std::int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const auto t0 = Clock::now();
    optimizer->set_lr(schedule.lr_at(epoch));
    step.invalidate();  // the learning rate is baked into a captured step
    train_loader.start_epoch(epoch);
    progress.start_epoch(epoch + 1, c.epochs, train_loader.num_batches());
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0, steps = 0;
    Batch b;
    while (train_loader.next(b)) {
      if (anomaly) anomaly->set_step(epoch + 1, steps + 1);
      const StepOutput o = step.run(b.images, b.labels);
      const double loss = o.loss.item();
      if (!std::isfinite(loss)) {
        progress.end_epoch();
        throw_non_finite_loss(loss, epoch + 1, steps + 1, last_path, c.detect_anomaly);
      }
      loss_sum += loss * static_cast<double>(b.size());
      correct += count_topk(o.logits, b.labels).top1;
      seen += b.size();
      ++steps;
      progress.update(steps, seen, loss_sum / static_cast<double>(seen),
                      static_cast<double>(correct) / static_cast<double>(seen));
    }
    const double train_seconds = seconds_since(t0);
    progress.end_epoch();
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = loss_sum / static_cast<double>(std::max<std::int64_t>(seen, 1));
    m.train_accuracy =
        static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(seen, 1));
    EvalResult val;
    if (val_loader) val = evaluate_images(*model, *val_loader);
    m.val_loss = val.loss;
    m.val_accuracy = val.accuracy;
    top5.push_back(val.top5);
    m.lr = optimizer->lr();
    m.images_per_sec = static_cast<double>(seen) / train_seconds;
    m.seconds = seconds_since(t0);
    result.epochs.push_back(m);
    if (log) log->write(m);
    progress.message(detail::str(
        "epoch ", epoch + 1, "/", c.epochs, ": train loss ", m.train_loss, " acc ",
        m.train_accuracy * 100, "%, ",
        val_loader ? detail::str("val loss ", m.val_loss, " top-1 ", m.val_accuracy * 100,
                                 "% top-5 ", val.top5 * 100, "%")
                   : std::string("no validation set"),
        ", ", static_cast<std::int64_t>(m.images_per_sec), " img/s",
        train_loader.skipped() > 0 ? detail::str(", ", train_loader.skipped(), " images skipped")
                                   : std::string()));
    if (finish_epoch(c, epoch, m.val_accuracy, stopper, last_path, *model, *optimizer, dropout_rng,
                     progress)) {
      result.stopped_early = true;
      break;
    }
  }
  if (val_loader) result.test = evaluate_images(*model, *val_loader);
  result.train_images_per_sec = median_images_per_sec(result.epochs);
  if (val_loader) {
    out << "validation top-1 " << result.test.accuracy * 100 << "% top-5 " << result.test.top5 * 100
        << "% (loss " << result.test.loss << ", " << result.test.samples << " images)";
  } else {
    out << "no validation set";
  }
  if (step.uses_graph())
    out << "; CUDA graph: " << step.captures() << " captures, " << step.replays() << " replays";
  out << "\n";
  // The caching allocator's peak of memory held by tensors (the memory plan's measure).
  std::int64_t peak = 0;
  if (device.is_cuda()) {
    const MemoryStats m = cuda::memory_stats(device.index());
    peak = m.allocated_bytes.peak;
    out << "GPU memory: peak allocated " << format_bytes(static_cast<std::uint64_t>(peak))
        << ", reserved " << format_bytes(static_cast<std::uint64_t>(m.reserved_bytes.peak)) << ", "
        << m.num_backend_mallocs << " cudaMalloc calls\n";
  }
  if (!c.metrics_out.empty()) {
    JsonSummary s;
    s.set("model", c.model)
        .set("data", c.data)
        .set("device", device.str())
        .set("backend", layers::backend_name(c.backend))
        .set("epochs", static_cast<std::int64_t>(result.epochs.size()))
        .set("batch_size", c.batch_size)
        .set("cuda_graph", step.uses_graph())
        .set("workers", static_cast<std::int64_t>(train_loader.workers()))
        .set("skipped_images", train_loader.skipped())
        .set("val_top1", result.test.accuracy)
        .set("val_top5", result.test.top5)
        .set("val_loss", result.test.loss)
        .set("val_top5_history", top5)
        .set("train_images_per_sec", result.train_images_per_sec)
        .set("stopped_early", result.stopped_early)
        .set("peak_allocated_bytes", peak)
        .set("history", result.epochs);
    s.write(c.metrics_out);
  }
  return result;
}

}  // namespace cudanet::train
