#include "layers/profile.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "core/nvtx.h"
#include "core/stream.h"
#include "layers/loss.h"

namespace cudanet::layers {

namespace {

// Times one piece of the step, accumulating over steps: two CUDA events on a GPU (read after the
// step has been waited for), a steady clock on the CPU.
class Stopwatch {
 public:
  explicit Stopwatch(Device device) : device_(device) {
    if (device.is_cuda()) {
      start_.emplace(device, /*timing=*/true);
      end_.emplace(device, /*timing=*/true);
    }
  }
  void start() {
    if (start_) {
      start_->record(current_stream(device_));
    } else {
      t0_ = std::chrono::steady_clock::now();
    }
  }
  void stop() {
    if (end_) {
      end_->record(current_stream(device_));
      pending_ = true;
    } else {
      total_ms_ +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
    }
  }
  // Adds the GPU time of the last start/stop (the caller has waited for the step).
  void collect() {
    if (pending_) total_ms_ += start_->elapsed_ms(*end_);
    pending_ = false;
  }
  double total_ms() const { return total_ms_; }

 private:
  Device device_;
  std::optional<Event> start_, end_;
  std::chrono::steady_clock::time_point t0_;
  bool pending_ = false;
  double total_ms_ = 0;
};

struct Timers {
  std::unique_ptr<Stopwatch> forward, backward;
};

}  // namespace

double StepProfile::total_ms() const {
  double t = 0;
  for (const LayerTiming& r : rows) t += r.forward_ms + r.backward_ms;
  return t;
}

std::string StepProfile::table() const {
  const double total = total_ms();
  std::string out = ::cudanet::detail::str("per-layer time of one training step (mean of ", steps,
                                           " steps, ", device, ")\n");
  char line[160];
  std::snprintf(line, sizeof line, "%-12s %-18s %12s %12s %8s\n", "layer", "type", "forward ms",
                "backward ms", "share");
  out += line;
  for (const LayerTiming& r : rows) {
    const double share = total > 0 ? 100.0 * (r.forward_ms + r.backward_ms) / total : 0.0;
    std::snprintf(line, sizeof line, "%-12s %-18s %12.3f %12.3f %7.1f%%\n", r.name.c_str(),
                  r.type.c_str(), r.forward_ms, r.backward_ms, share);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-12s %-18s %25.3f %7.1f%%\n", "total", "", total, 100.0);
  return out + line;
}

StepProfile profile_training_step(Sequential& net, const Tensor& x, const Tensor& labels, int steps,
                                  int warmup, const std::function<void()>& update) {
  CUDANET_CHECK(steps >= 1 && warmup >= 0, ValueError,
                "profile_training_step: need steps >= 1 and warmup >= 0, got ", steps, " and ",
                warmup);
  const Device device = x.device();
  const std::size_t n = net.size();
  std::vector<Timers> timers(n + 2);  // layers, loss, optimizer
  for (Timers& t : timers) {
    t.forward = std::make_unique<Stopwatch>(device);
    t.backward = std::make_unique<Stopwatch>(device);
  }
  std::size_t first = n;  // the first layer with parameters: the backward stops there
  for (std::size_t i = 0; i < n && first == n; ++i) {
    if (!net.at(i).parameters().empty()) first = i;
  }
  CrossEntropyLoss loss;
  for (int s = 0; s < warmup + steps; ++s) {
    const bool timed = s >= warmup;
    net.zero_grad();
    Tensor h = x;
    for (std::size_t i = 0; i < n; ++i) {
      CUDANET_RANGE((net.name(i) + "/forward").c_str());
      if (timed) timers[i].forward->start();
      h = net.at(i).forward(h, Mode::kTrain);
      if (timed) timers[i].forward->stop();
    }
    {
      CUDANET_RANGE("loss");
      if (timed) timers[n].forward->start();
      loss.forward(h, labels);
      if (timed) timers[n].forward->stop();
      if (timed) timers[n].backward->start();
      h = loss.backward();
      if (timed) timers[n].backward->stop();
    }
    for (std::size_t i = n; i-- > first;) {
      CUDANET_RANGE((net.name(i) + "/backward").c_str());
      Layer& layer = net.at(i);
      if (timed) timers[i].backward->start();
      if (i == first) {
        const bool was = layer.input_grad();
        layer.set_input_grad(false);
        layer.backward(h);
        layer.set_input_grad(was);
      } else {
        h = layer.backward(h);
      }
      if (timed) timers[i].backward->stop();
    }
    if (update) {
      CUDANET_RANGE("optimizer/step");
      if (timed) timers[n + 1].backward->start();
      update();
      if (timed) timers[n + 1].backward->stop();
    }
    if (device.is_cuda()) current_stream(device).synchronize();
    if (timed) {
      for (Timers& t : timers) {
        t.forward->collect();
        t.backward->collect();
      }
    }
  }
  StepProfile p;
  p.steps = steps;
  p.device = device.is_cuda() ? ::cudanet::detail::str(device, " (CUDA events)")
                              : std::string("cpu (steady clock)");
  for (std::size_t i = 0; i < n + 2; ++i) {
    LayerTiming r;
    r.name = i < n ? net.name(i) : (i == n ? "loss" : "optimizer");
    r.type = i < n ? net.at(i).type() : "";
    r.forward_ms = timers[i].forward->total_ms() / steps;
    r.backward_ms = timers[i].backward->total_ms() / steps;
    if (i == n + 1 && !update) continue;
    p.rows.push_back(r);
  }
  return p;
}

}  // namespace cudanet::layers
