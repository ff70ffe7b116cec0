// The zero-malloc check of the GPU training tests: after warm-up (and the capture, for a graph
// step), training steps take every block from the caching allocator's cache.
#pragma once

#include <gtest/gtest.h>
#include <string>

#include "core/cuda_allocator.h"
#include "train/train_step.h"

namespace cudanet::testing {

// Runs `warmup` steps of (x, y), then `steps` more, which must neither cudaMalloc nor cudaFree.
inline void expect_no_device_mallocs_after_warmup(train::TrainStep& step, const Tensor& x,
                                                  const Tensor& y, int warmup, int steps,
                                                  const std::string& what) {
  for (int i = 0; i < warmup; ++i) step.run(x, y).loss.item();
  const MemoryStats before = cuda::memory_stats(0);
  for (int i = 0; i < steps; ++i) step.run(x, y).loss.item();
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.num_backend_mallocs, before.num_backend_mallocs)
      << what << ": steps after warm-up called cudaMalloc";
  EXPECT_EQ(after.num_backend_frees, before.num_backend_frees)
      << what << ": steps after warm-up called cudaFree";
}

}  // namespace cudanet::testing
