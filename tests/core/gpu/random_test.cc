// The CUDA random fills write exactly the CPU fills' bits (core/philox.h: CPU and GPU agree bit
// for bit, normals included), on odd sizes, nonzero offsets and a counter carry; the output is
// poisoned first and the memory past n must stay untouched.
#include "core/random.h"

#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/stream.h"
#include "test_util.h"

#if CUDANET_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace cudanet {
namespace {

#if CUDANET_WITH_CUDA

#define ASSERT_CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

constexpr std::uint64_t kSeed = 0x9e3779b97f4a7c15ull;
constexpr std::int64_t kGuard = 16;      // elements after n that must stay poisoned
constexpr unsigned char kPoison = 0xff;  // NaN for floats and doubles, 255 for uint8

enum class Kind { kUniform, kNormal, kBernoulli };

void fill(Kind kind, void* data, DType dtype, std::int64_t n, std::uint64_t offset, Device device,
          const Stream& stream) {
  switch (kind) {
    case Kind::kUniform:
      fill_uniform(data, dtype, n, -1.5, 2.5, kSeed, offset, device, stream);
      break;
    case Kind::kNormal:
      fill_normal(data, dtype, n, 0.25, 3.0, kSeed, offset, device, stream);
      break;
    case Kind::kBernoulli:
      fill_bernoulli(data, dtype, n, 0.3, kSeed, offset, device, stream);
      break;
  }
}

// Fills n elements on the CPU and on the GPU and compares the bytes; reports the first few
// mismatches with both values.
template <typename T>
void expect_same_as_cpu(Kind kind, std::int64_t n, std::uint64_t offset, const Stream& stream) {
  const DType dtype = dtype_of<T>();
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(n + kGuard);
  std::vector<T> cpu(static_cast<std::size_t>(n + kGuard));
  std::memset(cpu.data(), kPoison, bytes);
  fill(kind, cpu.data(), dtype, n, offset, Device::cpu(), Stream());

  void* device_ptr = nullptr;
  ASSERT_CUDA_OK(cudaMalloc(&device_ptr, bytes));
  ASSERT_CUDA_OK(cudaMemset(device_ptr, kPoison, bytes));
  fill(kind, device_ptr, dtype, n, offset, stream.device(), stream);
  stream.synchronize();
  std::vector<T> gpu(static_cast<std::size_t>(n + kGuard));
  ASSERT_CUDA_OK(cudaMemcpy(gpu.data(), device_ptr, bytes, cudaMemcpyDeviceToHost));
  ASSERT_CUDA_OK(cudaFree(device_ptr));

  int reported = 0;
  std::int64_t mismatches = 0;
  for (std::int64_t i = 0; i < n + kGuard; ++i) {
    if (std::memcmp(&cpu[i], &gpu[i], sizeof(T)) != 0) {
      ++mismatches;
      if (reported++ < 5) {
        ADD_FAILURE() << dtype << " kind " << static_cast<int>(kind) << " n " << n << " offset "
                      << offset << ": element " << i << (i >= n ? " (past n)" : "") << " cpu "
                      << to_double(cpu[i]) << " gpu " << to_double(gpu[i]);
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << dtype << " kind " << static_cast<int>(kind) << " n " << n;
}

const std::int64_t kSizes[] = {1, 3, 5, 1000003};
const std::uint64_t kOffsets[] = {0, 12345, ~std::uint64_t{0} - 100};  // the last one carries

TEST(RandomGpu, UniformMatchesCpuBitwise) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = cuda::current_stream(0);
  for (std::int64_t n : kSizes) {
    for (std::uint64_t offset : kOffsets) {
      expect_same_as_cpu<float>(Kind::kUniform, n, offset, stream);
      expect_same_as_cpu<double>(Kind::kUniform, n, offset, stream);
    }
  }
}

TEST(RandomGpu, NormalMatchesCpuBitwise) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = cuda::current_stream(0);
  for (std::int64_t n : kSizes) {
    for (std::uint64_t offset : kOffsets) {
      expect_same_as_cpu<float>(Kind::kNormal, n, offset, stream);
      expect_same_as_cpu<double>(Kind::kNormal, n, offset, stream);
    }
  }
}

TEST(RandomGpu, BernoulliMatchesCpuBitwise) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = cuda::current_stream(0);
  for (std::int64_t n : kSizes) {
    for (std::uint64_t offset : kOffsets) {
      expect_same_as_cpu<float>(Kind::kBernoulli, n, offset, stream);
      expect_same_as_cpu<double>(Kind::kBernoulli, n, offset, stream);
      expect_same_as_cpu<std::uint8_t>(Kind::kBernoulli, n, offset, stream);
    }
  }
}

// A fill larger than one grid pass (grid-stride loop), on a non-default stream.
TEST(RandomGpu, LargeFillOnOwnStream) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = cuda::new_stream(0);
  expect_same_as_cpu<float>(Kind::kNormal, (std::int64_t{1} << 23) + 7, 3, stream);
  expect_same_as_cpu<double>(Kind::kUniform, (std::int64_t{1} << 22) + 1, 3, stream);
}

TEST(RandomGpu, ArgumentErrors) {
  CUDANET_REQUIRE_GPU();
  void* p = nullptr;
  ASSERT_CUDA_OK(cudaMalloc(&p, 64));
  const Device gpu = Device::cuda(0);
  EXPECT_THROW(fill_uniform(p, DType::kFloat32, 4, 1, 0, 0, 0, gpu), ValueError);
  EXPECT_THROW(fill_normal(p, DType::kFloat32, 4, 0, -1, 0, 0, gpu), ValueError);
  EXPECT_THROW(fill_bernoulli(p, DType::kFloat32, 4, 2, 0, 0, gpu), ValueError);
  EXPECT_THROW(fill_uniform(p, DType::kInt32, 4, 0, 1, 0, 0, gpu), ValueError);
  EXPECT_THROW(cuda::fill_uniform(p, DType::kFloat32, 4, 0, 1, 0, 0, Stream()), ValueError);
  // A CPU fill cannot be given a GPU stream.
  float host[4];
  EXPECT_THROW(
      fill_uniform(host, DType::kFloat32, 4, 0, 1, 0, 0, Device::cpu(), cuda::current_stream(0)),
      ValueError);
  fill_uniform(p, DType::kFloat32, 0, 0, 1, 0, 0, gpu);  // n = 0: nothing to do
  ASSERT_CUDA_OK(cudaFree(p));
}

#else  // CPU-only build: the GPU tests exist and skip visibly.

TEST(RandomGpu, MatchesCpu) {
  CUDANET_REQUIRE_GPU();
}

#endif

}  // namespace
}  // namespace cudanet
