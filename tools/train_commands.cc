// `cudanet train`, `cudanet eval` and `cudanet summary`.
#include <filesystem>
#include <iostream>
#include <optional>

#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/gemm.h"
#include "layers/models.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/plot.h"
#include "train/checkpoint.h"
#include "train/fashion_mnist.h"
#include "train/image_folder.h"
#include "train/image_trainer.h"
#include "train/trainer.h"

namespace cudanet::tools {

namespace {

// Process-wide switches of `cudanet train` (not TrainConfig fields: they set kernels/ globals).
struct TrainSwitches {
  bool tf32 = false, cudnn_benchmark = false;
};

// The options of `cudanet train` in `c` and `f`; false when --help was given (and printed).
bool parse_train(const std::vector<std::string>& args, train::TrainConfig* c, TrainSwitches* f) {
  std::string backend = "native";
  c->schedule.clear();  // empty: the model's default (train::default_schedule), set below
  ArgParser p("train", "Trains a model and reports its test accuracy.");
  p.flag("--model", &c->model, "mlp, lenet5, alexnet or alexnet-owt")
      .flag("--data", &c->data,
            "fashion-mnist, fashion-mnist:DIR, mnist:DIR, imagefolder:DIR or list:FILE (JPEGs)")
      .flag("--val", &c->val_data, "JPEG validation set: imagefolder:DIR or list:FILE")
      .flag("--workers", &c->workers, "JPEG decoding threads (0: one per core)")
      .toggle("--strict", &c->strict, "an unreadable or non-JPEG image is an error, not skipped")
      .toggle("--cuda-graph", &c->cuda_graph, "capture the training step once, replay it (GPU)")
      .flag("--epochs", &c->epochs, "training epochs")
      .flag("--batch-size", &c->batch_size, "samples per step")
      .flag("--optimizer", &c->optimizer, "sgd, adam or adamw")
      .flag("--lr", &c->lr, "learning rate (0: 0.02 for sgd, 0.001 for adam)")
      .flag("--momentum", &c->momentum, "SGD momentum")
      .toggle("--nesterov", &c->nesterov, "Nesterov momentum")
      .flag("--weight-decay", &c->weight_decay, "L2 penalty (AdamW: decoupled)")
      .flag("--l1", &c->l1, "L1 penalty (SGD)")
      .flag("--schedule", &c->schedule,
            "cosine, constant, step:N[:G], multistep:A,B[:G], cosine:T[:MIN], +warmup:N[:F] "
            "(default: cosine; AlexNets: /10 at 1/3 and 2/3 of the epochs)")
      .flag("--clip-grad-norm", &c->clip_grad_norm, "clip the global gradient norm (0: off)")
      .flag("--patience", &c->patience, "early stopping on validation accuracy (0: off)")
      .flag("--validation-size", &c->validation_size, "training samples held out for validation")
      .flag("--train-limit", &c->train_limit, "use only this many training samples (0: all)")
      .flag("--device", &c->device, "auto, cpu, cuda or cuda:N")
      .flag("--backend", &backend, "native or cudnn")
      .flag("--layer-backends", &c->layer_backends,
            "per-layer overrides, e.g. conv1=native,fc6=cudnn")
      .toggle("--tf32", &f->tf32, "let FP32 convolutions and GEMMs use TF32 tensor cores")
      .toggle("--cudnn-benchmark", &f->cudnn_benchmark,
              "time cuDNN's convolution algorithms once per shape (default: heuristics)")
      .flag("--seed", &c->seed, "seed of initialisation, shuffling and dropout")
      .flag("--metrics-out", &c->metrics_out, "final summary JSON; epochs go to <stem>.jsonl")
      .flag("--checkpoint-dir", &c->checkpoint_dir, "write last.safetensors here after each epoch")
      .toggle("--resume", &c->resume, "continue from --checkpoint-dir/last.safetensors")
      .flag("--stop-after", &c->stop_after, "end this run after N epochs (resume later; 0: off)")
      .toggle("--deterministic", &c->deterministic,
              "bitwise repeatable training (reductions without atomics)")
      .toggle("--detect-anomaly", &c->detect_anomaly,
              "check every layer's outputs and gradients; name the first non-finite one");
  if (!p.parse(args)) return false;
  if (c->schedule.empty()) c->schedule = train::default_schedule(c->model, c->epochs);
  try {  // what the user typed: mistakes are usage errors (exit code 2)
    c->backend = layers::parse_backend(backend);
    layers::model_input_shape(c->model);
    train::validate_config(*c);
  } catch (const ValueError& e) {
    throw UsageError(e.message(), __FILE__, __LINE__);
  }
  return true;
}

}  // namespace

int check_train(const std::vector<std::string>& args) {
  train::TrainConfig c;
  TrainSwitches f;
  parse_train(args, &c, &f);
  return 0;
}

int run_train(const std::vector<std::string>& args) {
  train::TrainConfig c;
  TrainSwitches f;
  if (!parse_train(args, &c, &f)) return 0;
  if (f.tf32) kernels::set_allow_tf32(true);
  if (f.cudnn_benchmark) kernels::cudnn::set_benchmark(true);
  const train::TrainResult result = train::run_training(c, std::cout);
  if (!c.metrics_out.empty()) {  // the curves next to the metrics, where gnuplot is installed
    const std::filesystem::path png =
        std::filesystem::path(c.metrics_out).replace_extension(".png");
    std::string why;
    if (plot_training_curves(result.epochs, png.string(), &why)) {
      std::cout << "training curves: " << png.string() << "\n";
    } else {
      std::cout << "no plot of the training curves: " << why << "\n";
    }
  }
  return 0;
}

namespace {

struct EvalOptions {
  std::string model = "lenet5", data = "fashion-mnist", checkpoint, device = "auto";
  std::int64_t batch = 256, workers = 0;
};

// False when --help was given (and printed).
bool parse_eval(const std::vector<std::string>& args, EvalOptions* o) {
  ArgParser p("eval", "Evaluates a checkpoint on Fashion-MNIST's test split or a JPEG data set.");
  p.flag("--model", &o->model, "the checkpoint's model")
      .flag("--checkpoint", &o->checkpoint, "a checkpoint written by cudanet train")
      .flag("--data", &o->data,
            "fashion-mnist[:DIR] (its test split), imagefolder:DIR or list:FILE (JPEGs: the "
            "centre crop, top-1 and top-5)")
      .flag("--batch-size", &o->batch, "samples per batch")
      .flag("--workers", &o->workers, "JPEG decoding threads (0: one per core)")
      .flag("--device", &o->device, "auto, cpu, cuda or cuda:N");
  if (!p.parse(args)) return false;
  CUDANET_CHECK(!o->checkpoint.empty(), UsageError, "eval needs --checkpoint FILE");
  CUDANET_CHECK(o->data.rfind("fashion-mnist", 0) == 0 || train::is_image_dataset_spec(o->data),
                UsageError,
                "eval supports fashion-mnist[:DIR], imagefolder:DIR and list:FILE, got ", o->data);
  CUDANET_CHECK(o->batch > 0, UsageError, "--batch-size must be > 0, got ", o->batch);
  CUDANET_CHECK(o->workers >= 0, UsageError, "--workers must be >= 0, got ", o->workers);
  try {
    layers::model_input_shape(o->model);
    if (o->device != "auto") Device::parse(o->device);
  } catch (const ValueError& e) {
    throw UsageError(e.message(), __FILE__, __LINE__);
  }
  return true;
}

}  // namespace

int check_eval(const std::vector<std::string>& args) {
  EvalOptions o;
  parse_eval(args, &o);
  return 0;
}

int run_eval(const std::vector<std::string>& args) {
  EvalOptions o;
  if (!parse_eval(args, &o)) return 0;
  const std::string& model = o.model;
  const Device d = train::resolve_device(o.device);
  Generator g(0);
  layers::ModelOptions mo;
  mo.initialize = false;  // the checkpoint provides every parameter
  std::optional<train::ImageList> list;
  if (train::is_image_dataset_spec(o.data)) {
    list = train::load_image_list(o.data);
    mo.num_classes = list->num_classes();  // one output per class, as the trainer built it
  }
  auto net = layers::make_model(model, g, mo);
  train::load_checkpoint(o.checkpoint, *net, nullptr, nullptr, model);
  net->to(d);
  if (list) {
    train::ImageLoader loader(
        *list, train::image_loader_options(model, o.batch, d, static_cast<int>(o.workers),
                                           /*training=*/false));
    const train::EvalResult r = train::evaluate_images(*net, loader);
    std::cout << "top-1 accuracy " << r.accuracy * 100 << "%, top-5 " << r.top5 * 100 << "% (loss "
              << r.loss << ", " << r.samples << " images of " << mo.num_classes << " classes, "
              << model << " on " << d << ")\n";
    return 0;
  }
  const std::string dir = o.data.size() > 14 ? o.data.substr(14) : train::kFashionMnistDir;
  train::DataLoaderOptions lo;
  lo.batch_size = o.batch;
  lo.shuffle = false;
  lo.device = d;
  train::DataLoader loader(
      train::load_fashion_mnist(dir, train::MnistSubset::kTest, train::fashion_mnist_stats()), lo);
  const train::EvalResult r = train::evaluate(*net, loader);
  std::cout << "test accuracy " << r.accuracy * 100 << "% (loss " << r.loss << ", " << r.samples
            << " images, " << model << " on " << d << ")\n";
  return 0;
}

namespace {

// False when --help was given (and printed).
bool parse_summary(const std::vector<std::string>& args, std::string* model, std::int64_t* batch) {
  ArgParser p("summary", "Prints every layer of a model with its output shape and parameters.");
  p.flag("--model", model, "mlp, lenet5, alexnet or alexnet-owt")
      .flag("--batch-size", batch, "batch size of the shapes shown");
  if (!p.parse(args)) return false;
  CUDANET_CHECK(*batch > 0, UsageError, "--batch-size must be > 0, got ", *batch);
  try {
    layers::model_input_shape(*model);
  } catch (const ValueError& e) {
    throw UsageError(e.message(), __FILE__, __LINE__);
  }
  return true;
}

}  // namespace

int check_summary(const std::vector<std::string>& args) {
  std::string model = "alexnet";
  std::int64_t batch = 1;
  parse_summary(args, &model, &batch);
  return 0;
}

int run_summary(const std::vector<std::string>& args) {
  std::string model = "alexnet";
  std::int64_t batch = 1;
  if (!parse_summary(args, &model, &batch)) return 0;
  Generator g(0);
  layers::ModelOptions o;
  o.initialize = false;  // shapes and counts only
  auto net = layers::make_model(model, g, o);
  std::cout << model << "\n" << layers::summary(*net, layers::model_input_shape(model), batch);
  return 0;
}

}  // namespace cudanet::tools
