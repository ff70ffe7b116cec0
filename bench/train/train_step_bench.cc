// cudanet_train_bench: times whole training steps (forward, cross-entropy, backward, SGD update
// with momentum 0.9 and weight decay 5e-4) on synthetic data already on the device, for each
// configuration (model:batch) and backend, and reports the median images/s after warm-up, the
// peak allocated memory and device mallocs per step from the caching allocator's statistics, and
// the FLOPs per step with the achieved TFLOP/s next to the H100's peak.
// bench/train/run_alexnet_bench.py runs it next to the same models in PyTorch
// (bench/train/torch_train_step.py).
//
//   cudanet_train_bench --configs alexnet:128,alexnet:256 --backends native,cudnn [--tf32]
//       [--steps 20] [--warmup 5] [--max-seconds 4] [--device cuda|cpu] [--json out.json]
//       [--no-memory-plan]
//
// Note: the cuDNN backend runs in benchmark mode (each convolution's algorithms timed once per
// shape, during warm-up), as PyTorch does with cudnn.benchmark = True. TF32 is off unless --tf32:
// the setting applies to cuDNN and cuBLAS alike, and the PyTorch script takes the same flag.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/train/comma_list.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/random.h"
#include "core/stream.h"
#include "kernels/cudnn.h"
#include "kernels/gemm.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace cudanet::bench {
namespace {

struct Options {
  std::vector<std::pair<std::string, std::int64_t>> configs{{"alexnet", 128}};
  std::vector<std::string> backends{"native", "cudnn"};
  std::string device = "auto", json;
  int steps = 20, warmup = 5;
  double max_seconds = 0;  // per configuration, for the timed steps (0: no limit)
  bool tf32 = false;
  bool memory_plan = true;  // layers/sequential.h; off to measure what it saves
};

struct Result {
  std::string model, backend, device;
  std::int64_t batch = 0;
  int steps = 0;
  double median_ms = 0, images_per_sec = 0;
  std::int64_t peak_bytes = -1;  // -1: not measured (CPU)
  double mallocs_per_step = -1;
  double gflop_per_step = 0, tflops = 0, peak_tflops = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      CUDANET_CHECK(i + 1 < argc, ValueError, a, " needs a value");
      return argv[++i];
    };
    if (a == "--configs") {
      o.configs.clear();
      for (const std::string& c : split_commas(value())) {
        const auto colon = c.find(':');
        CUDANET_CHECK(colon != std::string::npos, ValueError, "config '", c,
                      "' is not model:batch");
        o.configs.emplace_back(c.substr(0, colon), std::stoll(c.substr(colon + 1)));
      }
    } else if (a == "--backends") {
      o.backends = split_commas(value());
    } else if (a == "--device") {
      o.device = value();
    } else if (a == "--steps") {
      o.steps = std::stoi(value());
    } else if (a == "--warmup") {
      o.warmup = std::stoi(value());
    } else if (a == "--max-seconds") {
      o.max_seconds = std::stod(value());
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--tf32") {
      o.tf32 = true;
    } else if (a == "--no-memory-plan") {
      o.memory_plan = false;
    } else {
      CUDANET_THROW(ValueError, "unknown option '", a,
                    "' (--configs, --backends, --device, --steps, --warmup, --max-seconds, "
                    "--json, --tf32, --no-memory-plan)");
    }
  }
  CUDANET_CHECK(o.steps >= 1 && o.warmup >= 0, ValueError, "need --steps >= 1, --warmup >= 0");
  return o;
}

// Training FLOPs of one step (2 per multiply-add) of the convolutions and products: forward,
// filter gradient, and the input gradient of every parameter layer but the first.
double training_flops(layers::Sequential& net, Shape shape) {
  double flops = 0;
  bool first = true;
  for (std::size_t i = 0; i < net.size(); ++i) {
    layers::Layer& l = net.at(i);
    const Shape out = l.output_shape(shape);
    double macs = 0;
    if (auto* conv = dynamic_cast<layers::Conv2d*>(&l)) {
      const Shape& w = conv->weight().value.shape();  // [K, C/groups, R, S]
      macs = static_cast<double>(out[0]) * out[1] * out[2] * out[3] * w[1] * w[2] * w[3];
    } else if (dynamic_cast<layers::Linear*>(&l) != nullptr) {
      macs = static_cast<double>(shape[0]) * shape[1] * out[1];
    }
    if (macs > 0) {
      flops += 2 * macs * (first ? 2 : 3);
      first = false;
    }
    shape = out;
  }
  return flops;
}

Result run(const std::string& model, std::int64_t batch, const std::string& backend,
           const Options& o, Device device) {
  Generator g(1);
  auto net = layers::make_model(model, g);
  net->to(device);
  net->set_backend(layers::parse_backend(backend));
  net->set_memory_plan(o.memory_plan);
  Generator dropout_rng(2);
  for (std::size_t i = 0; i < net->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&net->at(i))) d->set_generator(&dropout_rng);
  }
  Shape in{batch};
  const Shape sample = layers::model_input_shape(model);
  in.insert(in.end(), sample.begin(), sample.end());
  const std::int64_t classes = net->output_shape(in)[1];
  const Tensor x = Tensor::empty(in).uniform_(-1.0, 1.0, g).to(device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::int64_t>(i) % classes;
  const Tensor y = Tensor::from_vector(labels, {batch}).to(device);
  kernels::SgdParams sgd;
  sgd.lr = 0.01;
  sgd.momentum = 0.9;
  sgd.weight_decay = 5e-4;
  train::Sgd optimizer(net->named_parameters(""), sgd);
  layers::CrossEntropyLoss loss;
  const auto step = [&] {
    optimizer.zero_grad();
    loss.forward(net->forward(x, layers::Mode::kTrain), y);
    net->backward_parameters(loss.backward());
    optimizer.step();
  };
  const bool gpu = device.is_cuda();
  const Stream stream = current_stream(device);
  for (int i = 0; i < o.warmup; ++i) step();
  stream.synchronize();
  MemoryStats before;
  if (gpu) {
    cuda::reset_peak_memory_stats(device.index());
    before = cuda::memory_stats(device.index());
  }
  std::vector<double> ms;
  std::optional<Event> start, end;
  if (gpu) start.emplace(device, true), end.emplace(device, true);
  const auto t_begin = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (gpu) start->record(stream);
    step();
    if (gpu) {
      end->record(stream);
      end->synchronize();
      ms.push_back(start->elapsed_ms(*end));
    } else {
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double spent =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_begin).count();
    if (o.max_seconds > 0 && spent > o.max_seconds && i >= 2) break;
  }
  Result r;
  r.model = model, r.backend = backend, r.batch = batch;
  r.device = gpu ? cuda::properties(device.index()).name : "cpu";
  r.steps = static_cast<int>(ms.size());
  std::sort(ms.begin(), ms.end());
  r.median_ms = ms[ms.size() / 2];
  r.images_per_sec = static_cast<double>(batch) * 1000.0 / r.median_ms;
  if (gpu) {
    const MemoryStats after = cuda::memory_stats(device.index());
    r.peak_bytes = after.allocated_bytes.peak;
    r.mallocs_per_step =
        static_cast<double>(after.num_backend_mallocs - before.num_backend_mallocs) / r.steps;
  }
  r.gflop_per_step = training_flops(*net, in) / 1e9;
  r.tflops = r.gflop_per_step / r.median_ms;  // GFLOP per ms = TFLOP/s
  r.peak_tflops = o.tf32 ? 495.0 : 67.0;      // H100 SXM dense: TF32 tensor cores, or FP32
  return r;
}

struct Failure {
  std::string model, backend, error;
  std::int64_t batch = 0;
};

// A JSON string literal of `s` (quotes, backslashes and control characters escaped).
std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      q += '\\';
      q += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      q += ' ';
    } else {
      q += ch;
    }
  }
  return q + "\"";
}

std::string json_of(const std::vector<Result>& results, const std::vector<Failure>& failures,
                    const Options& o) {
  std::ostringstream j;
  j << "{\"framework\": \"cudanet\", \"tf32\": " << (o.tf32 ? "true" : "false") << ", \"cudnn\": \""
    << kernels::cudnn::version() << "\", \"results\": [";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    j << (i ? ", " : "") << "{\"model\": \"" << r.model << "\", \"backend\": \"" << r.backend
      << "\", \"batch\": " << r.batch << ", \"device\": \"" << r.device
      << "\", \"steps\": " << r.steps << ", \"median_ms\": " << r.median_ms
      << ", \"images_per_sec\": " << r.images_per_sec << ", \"peak_bytes\": " << r.peak_bytes
      << ", \"mallocs_per_step\": " << r.mallocs_per_step
      << ", \"gflop_per_step\": " << r.gflop_per_step << ", \"tflops\": " << r.tflops
      << ", \"peak_tflops\": " << r.peak_tflops << "}";
  }
  j << "], \"errors\": [";
  for (std::size_t i = 0; i < failures.size(); ++i) {
    const Failure& f = failures[i];
    j << (i ? ", " : "") << "{\"model\": " << quoted(f.model) << ", \"batch\": " << f.batch
      << ", \"backend\": " << quoted(f.backend) << ", \"error\": " << quoted(f.error) << "}";
  }
  j << "]}\n";
  return j.str();
}

int main_impl(int argc, char** argv) {
  const Options o = parse(argc, argv);
  kernels::set_allow_tf32(o.tf32);
  kernels::cudnn::set_benchmark(true);
  const Device device = train::resolve_device(o.device);
  std::vector<Result> results;
  std::vector<Failure> failures;
  std::printf(
      "| model | batch | backend | median ms | images/s | peak MiB | mallocs/step | "
      "GFLOP/step | TFLOP/s (peak %s) |\n|---|---|---|---|---|---|---|---|---|\n",
      o.tf32 ? "TF32 495" : "FP32 67");
  for (const auto& [model, batch] : o.configs) {
    for (const std::string& backend : o.backends) {
      // One configuration's failure (no cuDNN in this build, out of memory, a cuDNN error) ends
      // only that configuration: the others still run and the JSON names the failure.
      try {
        const Result r = run(model, batch, backend, o, device);
        const std::string peak =
            r.peak_bytes < 0 ? "n/a" : ::cudanet::detail::str(r.peak_bytes >> 20);
        const std::string mallocs =
            r.mallocs_per_step < 0 ? "n/a" : ::cudanet::detail::str(r.mallocs_per_step);
        std::printf("| %s | %lld | %s | %.2f | %.0f | %s | %s | %.2f | %.3f |\n", model.c_str(),
                    static_cast<long long>(batch), backend.c_str(), r.median_ms, r.images_per_sec,
                    peak.c_str(), mallocs.c_str(), r.gflop_per_step, r.tflops);
        results.push_back(r);
      } catch (const std::exception& e) {
        std::printf("| %s | %lld | %s | failed: %s |\n", model.c_str(),
                    static_cast<long long>(batch), backend.c_str(), e.what());
        failures.push_back({model, backend, e.what(), batch});
      }
      std::fflush(stdout);
      // After every configuration, so a run stopped at a time limit keeps what it measured.
      if (!o.json.empty()) {
        const std::string tmp = o.json + ".tmp";
        std::ofstream(tmp) << json_of(results, failures, o);
        std::rename(tmp.c_str(), o.json.c_str());
      }
    }
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace cudanet::bench

int main(int argc, char** argv) {
  try {
    return cudanet::bench::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cudanet_train_bench: %s\n", e.what());
    return 1;
  }
}
