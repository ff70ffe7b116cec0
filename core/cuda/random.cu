// Random fill kernels: the GPU side of core/random.h. Each thread computes whole Philox blocks
// (grid-stride) with the same block functions as the CPU fills (core/philox.h), so both devices
// write the same bits for the same (seed, offset).
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/random.h"

namespace cudanet::cuda {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxGrid = 4096;  // blocks; the loops are grid-stride

// Writes the kPer values of Philox block b to data[b * kPer, ...) clipped at n. The loop is
// unrolled with constant indices so that `values` stays in registers (a loop bounded by n would
// index it dynamically and put it in local memory).
template <int kPer, typename T>
__device__ __forceinline__ void store_block(T* data, std::int64_t n, std::int64_t b,
                                            const T* values) {
  const std::int64_t first = b * kPer;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    if (first + j < n) data[first + j] = values[j];
  }
}

__device__ __forceinline__ std::int64_t first_block() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_step() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

template <typename T>
__global__ void philox_uniform_kernel(T* data, std::int64_t n, cudanet::detail::UniformRange range,
                                      std::uint64_t seed, std::uint64_t offset) {
  constexpr int kPer = philox_values_per_counter<T>();
  const std::int64_t blocks = (n + kPer - 1) / kPer;
  for (std::int64_t b = first_block(); b < blocks; b += grid_step()) {
    T values[kPer];
    cudanet::detail::uniform_block<T>(philox_block(seed, offset, static_cast<std::uint64_t>(b)),
                                      range, values);
    store_block<kPer>(data, n, b, values);
  }
}

template <typename T>
__global__ void philox_normal_kernel(T* data, std::int64_t n, double mean, double stddev,
                                     std::uint64_t seed, std::uint64_t offset) {
  constexpr int kPer = philox_values_per_counter<T>();
  const std::int64_t blocks = (n + kPer - 1) / kPer;
  for (std::int64_t b = first_block(); b < blocks; b += grid_step()) {
    T values[kPer];
    cudanet::detail::normal_block<T>(philox_block(seed, offset, static_cast<std::uint64_t>(b)),
                                     mean, stddev, values);
    store_block<kPer>(data, n, b, values);
  }
}

template <typename T>
__global__ void philox_bernoulli_kernel(T* data, std::int64_t n, double p, std::uint64_t seed,
                                        std::uint64_t offset) {
  const std::int64_t blocks = (n + 3) / 4;
  for (std::int64_t b = first_block(); b < blocks; b += grid_step()) {
    T values[4];
    cudanet::detail::bernoulli_block<T>(philox_block(seed, offset, static_cast<std::uint64_t>(b)),
                                        p, values);
    store_block<4>(data, n, b, values);
  }
}

unsigned grid_for(std::int64_t n, int per_counter) {
  const std::int64_t blocks = (n + per_counter - 1) / per_counter;
  const std::int64_t grid = (blocks + kThreads - 1) / kThreads;
  return static_cast<unsigned>(grid < kMaxGrid ? grid : kMaxGrid);
}

cudaStream_t raw(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}

void check_stream(const char* op, const Stream& stream) {
  CUDANET_CHECK(stream.device().is_cuda(), ValueError, "cuda::", op,
                " needs a CUDA stream, got one on ", stream.device());
}

}  // namespace

void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  std::uint64_t seed, std::uint64_t offset, const Stream& stream) {
  const cudanet::detail::UniformRange range =
      cudanet::detail::check_uniform(data, dtype, n, low, high);
  check_stream("fill_uniform", stream);
  DeviceGuard guard(stream.device().index());
  if (n == 0) return;
  if (dtype == DType::kFloat32) {
    philox_uniform_kernel<float><<<grid_for(n, 4), kThreads, 0, raw(stream)>>>(
        static_cast<float*>(data), n, range, seed, offset);
  } else {
    philox_uniform_kernel<double><<<grid_for(n, 2), kThreads, 0, raw(stream)>>>(
        static_cast<double*>(data), n, range, seed, offset);
  }
  CUDANET_LAUNCH_CHECK();
}

void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 std::uint64_t seed, std::uint64_t offset, const Stream& stream) {
  cudanet::detail::check_normal(data, dtype, n, mean, stddev);
  check_stream("fill_normal", stream);
  DeviceGuard guard(stream.device().index());
  if (n == 0) return;
  if (dtype == DType::kFloat32) {
    philox_normal_kernel<float><<<grid_for(n, 4), kThreads, 0, raw(stream)>>>(
        static_cast<float*>(data), n, mean, stddev, seed, offset);
  } else {
    philox_normal_kernel<double><<<grid_for(n, 2), kThreads, 0, raw(stream)>>>(
        static_cast<double*>(data), n, mean, stddev, seed, offset);
  }
  CUDANET_LAUNCH_CHECK();
}

void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t seed,
                    std::uint64_t offset, const Stream& stream) {
  cudanet::detail::check_bernoulli(data, dtype, n, p);
  check_stream("fill_bernoulli", stream);
  DeviceGuard guard(stream.device().index());
  if (n == 0) return;
  const unsigned grid = grid_for(n, 4);
  switch (dtype) {
    case DType::kFloat32:
      philox_bernoulli_kernel<float>
          <<<grid, kThreads, 0, raw(stream)>>>(static_cast<float*>(data), n, p, seed, offset);
      break;
    case DType::kFloat64:
      philox_bernoulli_kernel<double>
          <<<grid, kThreads, 0, raw(stream)>>>(static_cast<double*>(data), n, p, seed, offset);
      break;
    default:
      philox_bernoulli_kernel<std::uint8_t><<<grid, kThreads, 0, raw(stream)>>>(
          static_cast<std::uint8_t*>(data), n, p, seed, offset);
      break;
  }
  CUDANET_LAUNCH_CHECK();
}

}  // namespace cudanet::cuda
