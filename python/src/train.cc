// Optimizers, data sets and loaders, checkpoints, training steps and the whole trainer.
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>
#include <tuple>

#include "layers/loss.h"
#include "layers/sequential.h"
#include "python/src/bindings.h"
#include "train/checkpoint.h"
#include "train/data_loader.h"
#include "train/dataset.h"
#include "train/fashion_mnist.h"
#include "train/idx.h"
#include "train/image_trainer.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace cudanet::python {
namespace {

using namespace cudanet::train;
using layers::Layer;
using nb::arg;
using Release = nb::gil_scoped_release;

std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const auto l = logits.to(DType::kFloat64).to_vector<double>();
  const auto y = labels.to_vector<std::int64_t>();
  const std::int64_t n = logits.size(0), k = logits.size(1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < k; ++j) {
      if (l[static_cast<std::size_t>(i * k + j)] > l[static_cast<std::size_t>(i * k + best)]) {
        best = j;
      }
    }
    correct += best == y[static_cast<std::size_t>(i)] ? 1 : 0;
  }
  return correct;
}

// One step: forward (training mode), loss, backward, optimizer update. Returns (loss, correct).
std::pair<double, std::int64_t> train_step(Layer& model, layers::Loss& loss, Optimizer& optimizer,
                                           const Tensor& images, const Tensor& labels) {
  Release release;
  optimizer.zero_grad();
  const Tensor logits = model.forward(images, layers::Mode::kTrain);
  const double value = loss.forward(logits, labels).item();
  CUDANET_CHECK(std::isfinite(value), ValueError, "train_step: the loss is ", value);
  const Tensor dlogits = loss.backward();
  if (auto* seq = dynamic_cast<layers::Sequential*>(&model)) {
    seq->backward_parameters(dlogits);
  } else {
    model.backward(dlogits);
  }
  optimizer.step();
  const std::int64_t correct = logits.dim() == 2 ? count_correct(logits, labels) : 0;
  return {value, correct};
}

// (mean loss, accuracy, samples) of `model` in evaluation mode over one pass of `loader`.
std::tuple<double, double, std::int64_t> evaluate(Layer& model, DataLoader& loader) {
  Release release;
  layers::CrossEntropyLoss loss;
  double sum = 0;
  std::int64_t correct = 0, samples = 0;
  loader.start_epoch(0);
  Batch b;
  while (loader.next(b)) {
    const Tensor logits = model.forward(b.images, layers::Mode::kEval);
    sum += loss.forward(logits, b.labels).item() * static_cast<double>(b.size());
    correct += count_correct(logits, b.labels);
    samples += b.size();
  }
  if (samples == 0) return {0.0, 0.0, 0};
  return {sum / static_cast<double>(samples),
          static_cast<double>(correct) / static_cast<double>(samples), samples};
}

// A DataLoader that Python iterates: each iter() starts the next epoch (a new shuffle).
struct PyLoader {
  DataLoader loader;
  std::int64_t next_epoch = 0;
};

nb::dict train_result_dict(const TrainResult& r) {
  nb::list epochs;
  for (const auto& e : r.epochs) {
    nb::dict d;
    d["epoch"] = e.epoch;
    d["train_loss"] = e.train_loss;
    d["train_accuracy"] = e.train_accuracy;
    d["val_loss"] = e.val_loss;
    d["val_accuracy"] = e.val_accuracy;
    d["lr"] = e.lr;
    d["images_per_sec"] = e.images_per_sec;
    epochs.append(d);
  }
  nb::dict out;
  out["epochs"] = epochs;
  out["test_loss"] = r.test.loss;
  out["test_accuracy"] = r.test.accuracy;
  out["train_images_per_sec"] = r.train_images_per_sec;
  out["stopped_early"] = r.stopped_early;
  out["device"] = r.device;
  return out;
}

// run_training with the TrainConfig fields as keyword arguments (the command's options).
using Setter = std::function<void(TrainConfig&, nb::handle)>;
template <typename T>
Setter set(T TrainConfig::*member) {
  return [member](TrainConfig& c, nb::handle v) { c.*member = nb::cast<T>(v); };
}

nb::dict run(const nb::kwargs& kwargs) {
  static const std::map<std::string, Setter> setters = {
      {"model", set(&TrainConfig::model)},
      {"data", set(&TrainConfig::data)},
      {"epochs", set(&TrainConfig::epochs)},
      {"batch_size", set(&TrainConfig::batch_size)},
      {"optimizer", set(&TrainConfig::optimizer)},
      {"lr", set(&TrainConfig::lr)},
      {"momentum", set(&TrainConfig::momentum)},
      {"nesterov", set(&TrainConfig::nesterov)},
      {"weight_decay", set(&TrainConfig::weight_decay)},
      {"l1", set(&TrainConfig::l1)},
      {"schedule", set(&TrainConfig::schedule)},
      {"clip_grad_norm", set(&TrainConfig::clip_grad_norm)},
      {"patience", set(&TrainConfig::patience)},
      {"validation_size", set(&TrainConfig::validation_size)},
      {"train_limit", set(&TrainConfig::train_limit)},
      {"device", set(&TrainConfig::device)},
      {"backend",
       [](TrainConfig& c, nb::handle v) {
         c.backend = layers::parse_backend(nb::cast<std::string>(v));
       }},
      {"seed", set(&TrainConfig::seed)},
      {"metrics_out", set(&TrainConfig::metrics_out)},
      {"checkpoint_dir", set(&TrainConfig::checkpoint_dir)},
      {"resume", set(&TrainConfig::resume)},
      {"stop_after", set(&TrainConfig::stop_after)},
      {"quiet", set(&TrainConfig::quiet)},
      {"deterministic", set(&TrainConfig::deterministic)},
      {"detect_anomaly", set(&TrainConfig::detect_anomaly)},
      {"layer_backends", set(&TrainConfig::layer_backends)},
      {"val_data", set(&TrainConfig::val_data)},
      {"workers", set(&TrainConfig::workers)},
      {"strict", set(&TrainConfig::strict)},
      {"cuda_graph", set(&TrainConfig::cuda_graph)},
  };
  TrainConfig c;
  for (auto [key, value] : kwargs) {
    const std::string k = nb::cast<std::string>(key);
    const auto it = setters.find(k);
    CUDANET_CHECK(it != setters.end(), ValueError, "train: unknown option '", k, "'");
    it->second(c, value);
  }
  // As `cudanet train`: without a schedule, the model's default (AlexNets: steps at 1/3, 2/3).
  if (!kwargs.contains("schedule")) c.schedule = default_schedule(c.model, c.epochs);
  TrainResult r;
  {
    Release release;
    r = run_training(c, std::cout);
    std::cout.flush();
  }
  return train_result_dict(r);
}

}  // namespace

void bind_train(nb::module_& m) {
  // ---- optimizers ----
  nb::class_<Optimizer>(m, "Optimizer")
      .def("step", &Optimizer::step, nb::call_guard<Release>())
      .def("zero_grad", &Optimizer::zero_grad, nb::call_guard<Release>())
      .def_prop_rw("lr", &Optimizer::lr, &Optimizer::set_lr)
      .def_prop_ro("steps", &Optimizer::steps)
      .def_prop_ro("type", &Optimizer::type);
  nb::class_<Sgd, Optimizer>(m, "SGD").def(
      "__init__",
      [](Sgd* self, Layer& model, double lr, double momentum, bool nesterov, double weight_decay,
         double l1) {
        kernels::SgdParams p;
        p.lr = lr;
        p.momentum = momentum;
        p.nesterov = nesterov;
        p.weight_decay = weight_decay;
        p.l1 = l1;
        new (self) Sgd(model.named_parameters(""), p);
      },
      arg("model"), arg("lr") = 0.01, arg("momentum") = 0.0, arg("nesterov") = false,
      arg("weight_decay") = 0.0, arg("l1") = 0.0, nb::keep_alive<1, 2>());
  nb::class_<Adam, Optimizer>(m, "Adam").def(
      "__init__",
      [](Adam* self, Layer& model, double lr, std::pair<double, double> betas, double eps,
         double weight_decay, bool decoupled) {
        kernels::AdamParams p;
        p.lr = lr;
        p.beta1 = betas.first;
        p.beta2 = betas.second;
        p.eps = eps;
        p.weight_decay = weight_decay;
        p.decoupled = decoupled;
        new (self) Adam(model.named_parameters(""), p);
      },
      arg("model"), arg("lr") = 1e-3, arg("betas") = std::make_pair(0.9, 0.999), arg("eps") = 1e-8,
      arg("weight_decay") = 0.0, arg("decoupled") = false, nb::keep_alive<1, 2>());
  m.def(
      "clip_grad_norm",
      [](Layer& model, double max_norm) {
        return clip_grad_norm(model.named_parameters(""), max_norm);
      },
      arg("model"), arg("max_norm"), nb::call_guard<Release>());

  // ---- data ----
  nb::class_<Dataset>(m, "Dataset")
      .def(nb::init<Tensor, Tensor, std::int64_t>(), arg("images"), arg("labels"),
           arg("num_classes"))
      .def("__len__", &Dataset::size)
      .def_prop_ro("images", &Dataset::images)
      .def_prop_ro("labels", &Dataset::labels)
      .def_prop_ro("num_classes", &Dataset::num_classes)
      .def("narrow", &Dataset::narrow, arg("start"), arg("length"))
      .def("subset", &Dataset::subset, arg("indices"), nb::call_guard<Release>())
      .def("class_counts", &Dataset::class_counts);
  m.def(
      "fashion_mnist",
      [](const std::string& root, bool train_split) {
        Release release;
        return load_fashion_mnist(root, train_split ? MnistSubset::kTrain : MnistSubset::kTest,
                                  fashion_mnist_stats());
      },
      arg("root") = std::string(kFashionMnistDir), arg("train") = true);
  m.def("fashion_mnist_classes", &fashion_mnist_class_names);
  m.def("read_idx", &read_idx, arg("path"), nb::call_guard<Release>());
  m.def("write_idx", &write_idx, arg("path"), arg("tensor"), nb::call_guard<Release>());
  m.def(
      "split_train_validation",
      [](const Dataset& d, std::int64_t n, std::uint64_t seed) {
        Release release;
        auto s = split_train_validation(d, n, SplitMode::kRandom, seed);
        return std::make_pair(s.train, s.validation);
      },
      arg("dataset"), arg("validation_size"), arg("seed") = 0);

  nb::class_<PyLoader>(m, "DataLoader")
      .def(
          "__init__",
          [](PyLoader* self, const Dataset& d, std::int64_t batch_size, bool shuffle,
             bool drop_last, std::uint64_t seed, const std::string& device) {
            DataLoaderOptions o;
            o.batch_size = batch_size;
            o.shuffle = shuffle;
            o.drop_last = drop_last;
            o.seed = seed;
            o.device = parse_device(device);
            new (self) PyLoader{DataLoader(d, o), 0};
          },
          arg("dataset"), arg("batch_size") = 64, arg("shuffle") = true, arg("drop_last") = false,
          arg("seed") = 0, arg("device") = "cpu")
      .def("__len__", [](const PyLoader& l) { return l.loader.num_batches(); })
      .def_prop_ro("epoch", [](const PyLoader& l) { return l.next_epoch; })
      .def(
          "__iter__",
          [](PyLoader& l) -> PyLoader& {
            l.loader.start_epoch(l.next_epoch++);
            return l;
          },
          nb::rv_policy::reference)
      .def("__next__", [](PyLoader& l) {
        Batch b;
        bool more;
        {
          Release release;
          more = l.loader.next(b);
        }
        if (!more) throw nb::stop_iteration();
        return std::make_pair(b.images, b.labels);
      });

  // ---- training ----
  m.def("train_step", &train_step, arg("model"), arg("loss"), arg("optimizer"), arg("images"),
        arg("labels"));
  m.def(
      "evaluate", [](Layer& model, PyLoader& loader) { return evaluate(model, loader.loader); },
      arg("model"), arg("loader"));
  m.def("run_training", &run, "The whole trainer (as `cudanet train`), configured by keywords.");

  // ---- checkpoints ----
  m.def(
      "save_checkpoint",
      [](const std::string& path, layers::Sequential& model, Optimizer* optimizer,
         const std::string& model_name, std::int64_t epoch) {
        Release release;
        CheckpointInfo info;
        info.model = model_name;
        info.epoch = epoch;
        save_checkpoint(path, model, optimizer, nullptr, info);
      },
      arg("path"), arg("model"), arg("optimizer") = nb::none(), arg("model_name") = "",
      arg("epoch") = 0);
  m.def(
      "load_checkpoint",
      [](const std::string& path, layers::Sequential& model, Optimizer* optimizer,
         const std::string& expected_model) {
        Release release;
        auto info = load_checkpoint(path, model, optimizer, nullptr, expected_model);
        return std::make_pair(info.model, info.epoch);
      },
      arg("path"), arg("model"), arg("optimizer") = nb::none(), arg("expected_model") = "");
}

}  // namespace cudanet::python
