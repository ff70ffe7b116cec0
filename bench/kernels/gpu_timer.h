// Timing helpers shared by the GPU benchmark programs (bench/kernels/*_bench.cc; header-only,
// for sources built against the CUDA runtime).
//
// GpuTimer times a callable with CUDA events recorded on one stream. Before every timed call it
// flushes the L2 cache with a memset of a buffer of at least 256 MiB and four times the L2 size,
// so each run reads its operands from DRAM as a layer inside a network does; the memset also
// hides the host's launch overhead, since the callable's launches queue behind it. Warm-up calls
// (not timed) come first; the result is the median of the timed runs.
//
// Note: the callable must queue all of its work on the timer's stream (for the Tensor-level ops:
// the device's current stream) or the events do not bracket it. Host work inside the callable
// that blocks on the device (a synchronous copy) is timed too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

#include <cuda_runtime_api.h>

#include "core/cuda/check.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::bench {

// The median of `values` (0 for none).
inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// How many calls to make. Without a budget: `warmup`, then `min_runs` timed runs. With
// budget_ms > 0 the count adapts to the op: after the warm-up, one timed run measures the wall
// time w of a run (flush, call and synchronisation), and runs = clamp(budget_ms / w, min_runs,
// max_runs) more are timed.
struct RunPolicy {
  int warmup = 5;
  int min_runs = 25;
  int max_runs = 25;
  double budget_ms = 0;
};

struct Timing {
  double median_ms = 0;
  int runs = 0;
};

class GpuTimer {
 public:
  explicit GpuTimer(const Stream& stream)
      : stream_(stream), start_(stream.device(), true), stop_(stream.device(), true) {
    int l2 = 0;
    CUDANET_CUDA_CHECK(
        cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, stream.device().index()));
    flush_bytes_ = std::max<std::int64_t>(256LL << 20, 4LL * l2);
    flush_ = Tensor::empty({flush_bytes_}, DType::kUInt8, stream.device());
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  const Stream& stream() const { return stream_; }

  // Milliseconds of one call of f, after an L2 flush.
  template <typename F>
  double time_ms(F&& f) {
    CUDANET_CUDA_CHECK(cudaMemsetAsync(flush_.data_ptr(), flushes_++ & 0xff,
                                       static_cast<std::size_t>(flush_bytes_), raw_stream()));
    start_.record(stream_);
    f();
    stop_.record(stream_);
    stop_.synchronize();
    return start_.elapsed_ms(stop_);
  }

  template <typename F>
  Timing measure(F&& f, const RunPolicy& policy) {
    for (int i = 0; i < policy.warmup; ++i) f();
    int runs = std::max(1, policy.min_runs);
    std::vector<double> ms;
    if (policy.budget_ms > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      ms.push_back(time_ms(f));
      const double wall =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const double fit = std::floor(policy.budget_ms / std::max(wall, 1e-3));
      runs = static_cast<int>(
          std::clamp(fit, static_cast<double>(runs), static_cast<double>(policy.max_runs)));
    }
    while (static_cast<int>(ms.size()) < runs) ms.push_back(time_ms(f));
    return {median(ms), static_cast<int>(ms.size())};
  }

  // The median of `runs` timed calls after `warmup` untimed ones.
  template <typename F>
  double median_ms(F&& f, int warmup, int runs) {
    return measure(f, RunPolicy{warmup, runs, runs, 0}).median_ms;
  }

 private:
  cudaStream_t raw_stream() const { return static_cast<cudaStream_t>(stream_.handle()); }

  Stream stream_;
  Event start_, stop_;
  std::int64_t flush_bytes_ = 0;
  Tensor flush_;
  int flushes_ = 0;
};

// max |x - y| / max |y| over all elements of two float32 tensors of the same size (copied to
// the host): how far a result is from a reference, relative to the reference's scale.
inline double max_rel_diff(const Tensor& x, const Tensor& y) {
  const std::vector<float> a = x.to_vector<float>(), b = y.to_vector<float>();
  double diff = 0, scale = 0;
  if (a.size() != b.size()) return INFINITY;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;  // never accept NaN
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace cudanet::bench
