// Launch helpers shared by the hand-written CUDA kernels (internal; included by .cu files only).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"
#include "core/stream.h"

namespace cudanet::kernels::cuda {

constexpr int kThreadsPerBlock = 256;

inline cudaStream_t raw_stream(const Stream& s) { return static_cast<cudaStream_t>(s.handle()); }

// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned blocks_for(std::int64_t n, int threads = kThreadsPerBlock) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 65535LL * 16));
}

}  // namespace cudanet::kernels::cuda

// for (i in [0, n)) spread over the grid: CUDANET_GRID_STRIDE_LOOP(i, n) { ... }
#define CUDANET_GRID_STRIDE_LOOP(i, n)                                                     \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (n); i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
