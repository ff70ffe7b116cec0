// cudanet_memory_report: what one training step of a model keeps for its backward, layer by
// layer, with and without the memory plan (docs/memory.md), measured on the CPU, and the most the
// step holds at once (the CPU allocator's peak of requested bytes).
//
//   cudanet_memory_report [--models alexnet,alexnet-owt] [--batch 2] [--scale-to 128]
//
// Columns: the bytes each layer's saved tensors add (a storage another layer already holds counts
// once, at its first holder), without the plan ("before": what the layers kept before the memory
// plan, i.e. these plus the uint8 dropout mask and LRN's scale, both recomputed now) and with it
// ("after"); then the totals at --batch and,
// scaled linearly, at --scale-to (every saved tensor has the batch as its first dimension, so the
// bytes are exactly proportional: run with two batch sizes to see it). The peak is measured over
// zero_grad, forward, loss and backward_parameters of a second step, above the parameters,
// gradients and input batch; it is not scaled.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "bench/train/comma_list.h"
#include "core/pinned_allocator.h"
#include "core/random.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"

namespace cudanet::bench {
namespace {

struct Options {
  std::vector<std::string> models{"alexnet", "alexnet-owt"};
  std::int64_t batch = 2, scale_to = 128;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    CUDANET_CHECK(i + 1 < argc, ValueError, a, " needs a value (--models, --batch, --scale-to)");
    const std::string v = argv[++i];
    if (a == "--models") {
      o.models = split_commas(v);
    } else if (a == "--batch") {
      o.batch = std::stoll(v);
    } else if (a == "--scale-to") {
      o.scale_to = std::stoll(v);
    } else {
      CUDANET_THROW(ValueError, "unknown option '", a, "' (--models, --batch, --scale-to)");
    }
  }
  CUDANET_CHECK(o.batch >= 1 && o.scale_to >= 1, ValueError, "need --batch, --scale-to >= 1");
  return o;
}

struct StepMemory {
  std::vector<std::int64_t> per_layer;  // bytes first held by each layer after the forward
  std::int64_t saved = 0;               // all distinct saved storages
  std::int64_t peak = 0;                // the step's peak above its starting allocation
};

StepMemory measure(layers::Sequential& net, const Tensor& x, const Tensor& labels, bool plan) {
  net.set_memory_plan(plan);
  layers::CrossEntropyLoss loss;
  StepMemory m;
  net.release_saved();
  // Parameters, gradients, the batch: what the step starts from. Without the plan, a step also
  // starts with the previous step's saved tensors, which its forward replaces layer by layer.
  const std::int64_t base = cpu_memory_stats().requested_bytes;
  for (int step = 0; step < 2; ++step) {  // the second step is measured
    net.zero_grad();
    reset_cpu_peak_memory_stats();
    const Tensor logits = net.forward(x, layers::Mode::kTrain);
    if (step == 1) {
      std::set<const void*> seen;
      m.per_layer.clear();
      for (std::size_t i = 0; i < net.size(); ++i) {
        std::int64_t bytes = 0;
        for (const Tensor& t : net.at(i).saved_tensors()) {
          if (t.defined() && seen.insert(t.storage().data()).second) {
            bytes += static_cast<std::int64_t>(t.storage().nbytes());
          }
        }
        m.per_layer.push_back(bytes);
      }
      m.saved = net.saved_bytes();
    }
    loss.forward(logits, labels);
    net.backward_parameters(loss.backward());
    m.peak = cpu_memory_stats().peak_requested_bytes - base;
  }
  net.release_saved();
  return m;
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes / (1 << 20));
  return buf;
}

void report(const std::string& model, const Options& o) {
  Generator g(1);
  auto net = layers::make_model(model, g);
  Generator dropout_rng(2);
  for (std::size_t i = 0; i < net->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&net->at(i))) d->set_generator(&dropout_rng);
  }
  Shape shape{o.batch};
  const Shape sample = layers::model_input_shape(model);
  shape.insert(shape.end(), sample.begin(), sample.end());
  const Tensor x = Tensor::empty(shape).uniform_(-1.0, 1.0, g);
  const std::int64_t classes = net->output_shape(shape)[1];
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < o.batch; ++i) labels.push_back(i % classes);
  const Tensor y = Tensor::from_vector(labels, {o.batch});

  const StepMemory before = measure(*net, x, y, false);
  const StepMemory after = measure(*net, x, y, true);
  const std::vector<bool> plan = net->inplace_plan(Device::cpu());
  const double scale = static_cast<double>(o.scale_to) / static_cast<double>(o.batch);

  std::printf("\n### %s, batch %lld (MiB at batch %lld in brackets)\n\n", model.c_str(),
              static_cast<long long>(o.batch), static_cast<long long>(o.scale_to));
  std::printf("| layer | output | saved before | saved after | note |\n|---|---|---|---|---|\n");
  std::int64_t no_longer_kept = 0;
  for (std::size_t i = 0; i < net->size(); ++i) {
    const Shape out = net->at(i).output_shape(shape);
    std::int64_t old = before.per_layer[i];
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    if (dynamic_cast<layers::Dropout*>(&net->at(i)) != nullptr) {
      old += n;  // the uint8 mask the layer used to keep
      no_longer_kept += n;
    } else if (dynamic_cast<layers::LocalResponseNorm*>(&net->at(i)) != nullptr) {
      old += n * 4;  // the float32 scale it used to keep
      no_longer_kept += n * 4;
    }
    std::string note = plan[i] ? "in place" : "";
    if (old != 0 || after.per_layer[i] != 0) {
      std::printf("| %s | %s | %lld (%s) | %lld (%s) | %s |\n", net->name(i).c_str(),
                  shape_str(out).c_str(), static_cast<long long>(old), mib(old * scale).c_str(),
                  static_cast<long long>(after.per_layer[i]),
                  mib(after.per_layer[i] * scale).c_str(), note.c_str());
    }
    shape = out;
  }
  const std::int64_t total_before = before.saved + no_longer_kept;
  std::printf("| **total saved** | | %lld (%s) | %lld (%s) | %.1f%% less |\n",
              static_cast<long long>(total_before), mib(total_before * scale).c_str(),
              static_cast<long long>(after.saved), mib(after.saved * scale).c_str(),
              100.0 * (1.0 - static_cast<double>(after.saved) / static_cast<double>(total_before)));
  std::printf(
      "| **step peak** (measured, batch %lld) | | %lld (%s MiB) | %lld (%s MiB) | "
      "%.1f%% less (plan off vs on; masks and scales recomputed in both) |\n",
      static_cast<long long>(o.batch), static_cast<long long>(before.peak),
      mib(before.peak).c_str(), static_cast<long long>(after.peak), mib(after.peak).c_str(),
      100.0 * (1.0 - static_cast<double>(after.peak) / static_cast<double>(before.peak)));
}

}  // namespace
}  // namespace cudanet::bench

int main(int argc, char** argv) {
  try {
    const cudanet::bench::Options o = cudanet::bench::parse(argc, argv);
    for (const std::string& m : o.models) cudanet::bench::report(m, o);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cudanet_memory_report: %s\n", e.what());
    return 1;
  }
}
