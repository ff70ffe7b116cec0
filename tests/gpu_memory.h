// Device memory as the CUDA runtime sees it, for the GPU tests that watch it (they link
// CUDA::cudart). Tests that read the free memory must run alone on the GPU: name them
// *FillTheDevice* or *FreeDeviceMemory* (tests/CMakeLists.txt runs those serially).
#pragma once

#include <cstddef>
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

namespace cudanet::testing {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// cudaMemGetInfo's free bytes of the current device.
inline std::size_t device_free_bytes() {
  std::size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

}  // namespace cudanet::testing
