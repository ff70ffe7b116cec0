// Tensor copy bandwidth: host to host (contiguous and strided), and when a GPU is present host to
// device (pageable and pinned-staged), device to host and device to device. Bytes counted once
// per direction (read + write are not double-counted), so GB/s compares with link bandwidth.
#include <benchmark/benchmark.h>

#include "core/cuda_runtime.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet {
namespace {

void set_bytes(benchmark::State& state, std::int64_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes);
}

void BM_CopyHostToHost(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor src = Tensor::full({n}, 1.0);
  Tensor dst = Tensor::empty({n});
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::DoNotOptimize(dst.data_ptr());
  }
  set_bytes(state, n * 4);
}
BENCHMARK(BM_CopyHostToHost)->Arg(1 << 20)->Arg(1 << 24);

void BM_CopyHostStrided(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor src = Tensor::full({n, 64}, 1.0).narrow(1, 0, 32);  // half of each row
  Tensor dst = Tensor::empty({n, 32});
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::DoNotOptimize(dst.data_ptr());
  }
  set_bytes(state, n * 32 * 4);
}
BENCHMARK(BM_CopyHostStrided)->Arg(1 << 14)->Arg(1 << 18);

// Device copies: direction 0 = H2D pageable, 1 = H2D pinned-staged (non_blocking), 2 = D2H,
// 3 = D2D.
void BM_CopyDevice(benchmark::State& state) {
  if (!cuda::is_available()) {
    state.SkipWithError(("no GPU: " + cuda::unavailable_reason()).c_str());
    return;
  }
  const std::int64_t n = state.range(0);
  const int direction = static_cast<int>(state.range(1));
  Tensor host = Tensor::full({n}, 1.0);
  Tensor dev = Tensor::full({n}, 2.0, DType::kFloat32, Device::cuda(0));
  Tensor dev2 = Tensor::empty({n}, DType::kFloat32, Device::cuda(0));
  const Stream stream = cuda::current_stream(0);
  for (auto _ : state) {
    switch (direction) {
      case 0: dev.copy_(host); break;
      case 1: dev.copy_(host, /*non_blocking=*/true); break;
      case 2: host.copy_(dev); break;
      default: dev2.copy_(dev); break;
    }
    stream.synchronize();
  }
  set_bytes(state, n * 4);
  static const char* const kNames[] = {"h2d_pageable", "h2d_pinned_staged", "d2h", "d2d"};
  state.SetLabel(kNames[direction]);
}
BENCHMARK(BM_CopyDevice)
    ->ArgsProduct({{1 << 24}, {0, 1, 2, 3}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cudanet
