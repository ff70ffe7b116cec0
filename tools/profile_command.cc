// `cudanet profile`: per-layer times of a training step on synthetic data (layers/profile.h).
#include <iostream>

#include "core/cuda_allocator.h"
#include "core/random.h"
#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/gemm.h"
#include "layers/linear.h"
#include "layers/models.h"
#include "layers/profile.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace cudanet::tools {

namespace {

struct ProfileOptions {
  std::string model = "alexnet", device_name = "auto", backend = "native", layer_backends;
  std::int64_t batch = 128, steps = 5, warmup = 2;
  bool tf32 = false, cudnn_benchmark = false, deterministic = false;
  layers::Backend b = layers::Backend::kNative;
  Shape sample;
};

// The options of `cudanet profile` in `o`; false when --help was given (and printed).
bool parse_profile(const std::vector<std::string>& args, ProfileOptions* o) {
  ArgParser p("profile",
              "Times each layer's forward and backward, the loss and the SGD update of a "
              "training step on synthetic data, and prints a table (CUDA events on a GPU).");
  p.flag("--model", &o->model, "mlp, lenet5, alexnet or alexnet-owt")
      .flag("--batch-size", &o->batch, "samples per step")
      .flag("--steps", &o->steps, "timed steps (the table shows their mean)")
      .flag("--warmup", &o->warmup, "untimed steps first (cuDNN algorithm search, allocator cache)")
      .flag("--device", &o->device_name, "auto, cpu, cuda or cuda:N")
      .flag("--backend", &o->backend, "native or cudnn")
      .flag("--layer-backends", &o->layer_backends, "per-layer overrides, e.g. conv1=native")
      .toggle("--tf32", &o->tf32, "let FP32 convolutions and GEMMs use TF32 tensor cores")
      .toggle("--cudnn-benchmark", &o->cudnn_benchmark, "time cuDNN's algorithms once per shape")
      .toggle("--deterministic", &o->deterministic, "deterministic algorithms only");
  if (!p.parse(args)) return false;
  try {
    o->b = layers::parse_backend(o->backend);
    o->sample = layers::model_input_shape(o->model);
  } catch (const ValueError& e) {
    throw UsageError(e.message(), __FILE__, __LINE__);
  }
  CUDANET_CHECK(o->batch >= 1 && o->steps >= 1 && o->warmup >= 0, UsageError,
                "profile: need --batch-size >= 1, --steps >= 1, --warmup >= 0");
  return true;
}

}  // namespace

int check_profile(const std::vector<std::string>& args) {
  ProfileOptions o;
  parse_profile(args, &o);
  return 0;
}

int run_profile(const std::vector<std::string>& args) {
  ProfileOptions o;
  if (!parse_profile(args, &o)) return 0;
  const std::string& model = o.model;
  const std::string& device_name = o.device_name;
  const std::string& layer_backends = o.layer_backends;
  const std::int64_t batch = o.batch, steps = o.steps, warmup = o.warmup;
  const bool tf32 = o.tf32, cudnn_benchmark = o.cudnn_benchmark, deterministic = o.deterministic;
  const layers::Backend b = o.b;
  const Shape& sample = o.sample;
  kernels::set_allow_tf32(tf32);
  kernels::cudnn::set_benchmark(cudnn_benchmark);
  if (deterministic) kernels::set_deterministic(true);
  const Device device = train::resolve_device(device_name);

  Generator g(1);
  auto net = layers::make_model(model, g);
  net->to(device);
  net->set_backend(b);
  layers::set_layer_backends(*net, layer_backends);
  Shape in{batch};
  in.insert(in.end(), sample.begin(), sample.end());
  const std::int64_t classes = net->output_shape(in)[1];
  Tensor x = Tensor::empty(in).uniform_(-1.0, 1.0, g).to(device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<std::int64_t>(i) % classes;
  }
  const Tensor y = Tensor::from_vector(labels, {batch}).to(device);
  kernels::SgdParams sgd;
  sgd.lr = 0.01;
  sgd.momentum = 0.9;
  train::Sgd optimizer(net->named_parameters(""), sgd);

  std::cout << "cudanet profile: " << model << ", batch " << batch << ", device " << device
            << ", backend " << o.backend
            << (layer_backends.empty() ? "" : " (" + layer_backends + ")") << ", TF32 "
            << (tf32 ? "on" : "off") << ", cuDNN algorithms "
            << (cudnn_benchmark ? "timed" : "heuristic") << "\n";
  const layers::StepProfile prof = layers::profile_training_step(
      *net, x, y, static_cast<int>(steps), static_cast<int>(warmup), [&] { optimizer.step(); });
  std::cout << prof.table();
  if (device.is_cuda() && device.index() == 0 && b == layers::Backend::kCudnn) {
    // What cuDNN chose for each convolution (heuristics or, with --cudnn-benchmark, timing).
    Shape shape = in;
    for (std::size_t i = 0; i < net->size(); ++i) {
      layers::Layer& l = net->at(i);
      if (auto* conv = dynamic_cast<layers::Conv2d*>(&l); conv && l.backend() == b) {
        const kernels::Conv2dGeometry geo = kernels::conv2d_geometry(
            shape, conv->weight().value.shape(), conv->params(), "profile");
        std::cout << net->name(i) << ":";
        for (const char* pass : {"fwd", "bwd-data", "bwd-filter"}) {
          const std::string algo = kernels::cudnn::chosen_algorithm(pass, geo);
          if (!algo.empty()) std::cout << "  " << algo;
        }
        std::cout << "\n";
      }
      shape = l.output_shape(shape);
    }
  }
  if (device.is_cuda()) {
    const MemoryStats s = cuda::memory_stats(device.index());
    std::cout << "peak allocated " << format_bytes(s.allocated_bytes.peak) << ", reserved "
              << format_bytes(s.reserved_bytes.current) << ", device mallocs "
              << s.num_backend_mallocs << "\n";
  }
  return 0;
}

}  // namespace cudanet::tools
