// cudaemu's data-race checker (tools/cudaemu/src/racecheck.cc): the races a GPU would turn into
// wrong results, which the emulator's one-thread-at-a-time schedule hides, fail the launch with a
// report naming both accesses and the code; race-free kernels pass and compute what they should.
// A race leaves the device in a sticky error state, so each is provoked in a child process.
#include <csignal>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <vector>

#include <cub/block/block_reduce.cuh>
#include <cuda_runtime_api.h>

#include "tests/cudaemu/checker_test_util.h"

namespace {

using cudaemu_test::device_alloc;
using cudaemu_test::expect_race;
using cudaemu_test::Racecheck;
using cudaemu_test::to_host;
using RacecheckDeathTest = Racecheck;

constexpr int kThreads = 64;

// ---- race-free kernels ----------------------------------------------------------------------

// Reverses x within each block through shared memory, with the barrier it needs.
__global__ void reverse_kernel(const float* x, float* y) {
  __shared__ float tile[kThreads];
  const unsigned base = blockIdx.x * kThreads;
  tile[threadIdx.x] = x[base + threadIdx.x];
  __syncthreads();
  y[base + threadIdx.x] = tile[kThreads - 1 - threadIdx.x];
}

// Every thread of every block adds one to a counter, atomically.
__global__ void count_kernel(int* counter) {
  atomicAdd(counter, 1);
}

// Adjacent threads store adjacent bytes of the same 4-byte words (a byte mask, a pooling argmax).
__global__ void byte_kernel(unsigned char* out) {
  out[blockIdx.x * kThreads + threadIdx.x] = static_cast<unsigned char>(threadIdx.x);
}

// Two block reductions that share TempStorage, separated by the barrier CUB requires.
__global__ void two_sums_kernel(const float* x, float* out) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ Reduce::TempStorage storage;
  const float a = Reduce(storage).Sum(x[threadIdx.x]);
  __syncthreads();
  const float b = Reduce(storage).Sum(2.0f * x[threadIdx.x]);
  if (threadIdx.x == 0) {
    out[0] = a;
    out[1] = b;
  }
}

// Lanes of one warp hand values around through shared memory, ordered by __syncwarp.
__global__ void warp_rotate_kernel(int* out) {
  __shared__ int slot[32];
  slot[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncwarp();
  out[threadIdx.x] = slot[(threadIdx.x + 1) % 32];
}

// Stages x[0, n) in a tile of kThreads and reads it back reversed; the tile's tail past n is
// zeroed (zero_fill) or left as it was (a bug: on a GPU it holds what an earlier block left).
__global__ void partial_tile_kernel(const float* x, int n, bool zero_fill, float* y) {
  __shared__ float tile[kThreads];
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) {
    tile[i] = x[i];
  } else if (zero_fill) {
    tile[i] = 0.0f;
  }
  __syncthreads();
  y[i] = tile[kThreads - 1 - i];
}

// ---- racy kernels ---------------------------------------------------------------------------

// reverse_kernel without its barrier.
__global__ void missing_barrier_kernel(const float* x, float* y) {
  __shared__ float tile[kThreads];
  tile[threadIdx.x] = x[threadIdx.x];
  y[threadIdx.x] = tile[kThreads - 1 - threadIdx.x];
}

// A tiled loop that forgets the barrier after using a tile: the next tile's loads overwrite what
// slower threads still read (write-after-read).
__global__ void tile_reuse_kernel(const float* x, int tiles, float* y) {
  __shared__ float tile[kThreads];
  float acc = 0;
  for (int t = 0; t < tiles; ++t) {
    tile[threadIdx.x] = x[t * kThreads + threadIdx.x];
    __syncthreads();
    acc += tile[(threadIdx.x + 1) % kThreads];
  }
  y[threadIdx.x] = acc;
}

// A sum with `+=` instead of atomicAdd: right on the emulator, wrong on a GPU.
__global__ void plain_sum_kernel(const float* x, float* sum) {
  *sum += x[blockIdx.x * kThreads + threadIdx.x];
}

// Each block reads its neighbour's output of the same launch.
__global__ void neighbour_block_kernel(float* y) {
  const unsigned i = blockIdx.x * kThreads + threadIdx.x;
  y[i] = 1.0f;
  if (blockIdx.x > 0 && threadIdx.x == 0) y[i] += y[i - 1];
}

// two_sums_kernel without the barrier between the reductions.
__global__ void reused_storage_kernel(const float* x, float* out) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ Reduce::TempStorage storage;
  const float a = Reduce(storage).Sum(x[threadIdx.x]);
  const float b = Reduce(storage).Sum(2.0f * x[threadIdx.x]);
  if (threadIdx.x == 0) out[0] = a + b;
}

// warp_rotate_kernel across two warps: __syncwarp orders the lanes of one warp only.
__global__ void cross_warp_kernel(int* out) {
  __shared__ int slot[kThreads];
  slot[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncwarp();
  out[threadIdx.x] = slot[(threadIdx.x + 32) % kThreads];
}

// A plain read of a counter that other threads update atomically.
__global__ void atomic_and_plain_kernel(int* counter, int* seen) {
  if (threadIdx.x == 0) {
    *seen = *counter;
  } else {
    atomicAdd(counter, 1);
  }
}

// One thread too many: the last writes one element past the end of x.
__global__ void one_past_the_end_kernel(float* x) {
  x[threadIdx.x] = 1.0f;
}

// A float4 load from a pointer that is 4-byte but not 16-byte aligned.
__global__ void misaligned_kernel(const float* x, float4* y) {
  *y = *reinterpret_cast<const float4*>(x + 1);
}

TEST_F(Racecheck, RaceFreeKernelsPassAndComputeTheirResults) {
  constexpr int kBlocks = 3;
  std::vector<float> host(kBlocks * kThreads);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i);
  float* x = device_alloc<float>(host.size());
  float* y = device_alloc<float>(host.size());
  ASSERT_EQ(cudaMemcpy(x, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  reverse_kernel<<<kBlocks, kThreads>>>(x, y);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> reversed = to_host(y, host.size());
  EXPECT_EQ(reversed[0], 63.0f);
  EXPECT_EQ(reversed[kThreads + 1], 126.0f);

  int* counter = device_alloc<int>(1);
  count_kernel<<<kBlocks, kThreads>>>(counter);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(to_host(counter, 1)[0], kBlocks * kThreads);

  auto* bytes = device_alloc<unsigned char>(kBlocks * kThreads);
  byte_kernel<<<kBlocks, kThreads>>>(bytes);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(to_host(bytes, kBlocks * kThreads)[kThreads + 5], 5);

  two_sums_kernel<<<1, kThreads>>>(x, y);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> sums = to_host(y, 2);
  EXPECT_EQ(sums[0], 2016.0f);  // 0 + 1 + ... + 63
  EXPECT_EQ(sums[1], 4032.0f);

  int* rotated = device_alloc<int>(32);
  warp_rotate_kernel<<<1, 32>>>(rotated);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(to_host(rotated, 32)[31], 0);

  partial_tile_kernel<<<1, kThreads>>>(x, 48, true, y);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> tail = to_host(y, kThreads);
  EXPECT_EQ(tail[0], 0.0f);    // tile[63], past n
  EXPECT_EQ(tail[63], 0.0f);   // tile[0] = x[0]
  EXPECT_EQ(tail[16], 47.0f);  // tile[47] = x[47]
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (void* p : {static_cast<void*>(x), static_cast<void*>(y), static_cast<void*>(counter),
                  static_cast<void*>(bytes), static_cast<void*>(rotated)}) {
    cudaFree(p);
  }
}

TEST_F(RacecheckDeathTest, AMissingBarrierIsARaceOnSharedMemory) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(kThreads);
                missing_barrier_kernel<<<1, kThreads>>>(x, x);
              }),
              ::testing::ExitedWithCode(0),
              "data race on shared memory: a write of 4 bytes by thread \\(32,0,0\\) in "
              ".*missing_barrier_kernel.*racecheck_test.cu:[0-9]+\\), and a read by "
              "thread \\(31,0,0\\) of the same block with no barrier between them");
}

// Caught without the checker too (the variable is poisoned: NaN), but then only by the results.
TEST_F(RacecheckDeathTest, ReadingSharedMemoryNoThreadOfTheBlockWroteFails) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(kThreads);
                partial_tile_kernel<<<2, kThreads>>>(x, 48, false, x);
              }),
              ::testing::ExitedWithCode(0),
              "read of shared memory that no thread of the block had written: a read of 4 bytes "
              "by thread \\(0,0,0\\) in .*partial_tile_kernel.*racecheck_test.cu:[0-9]+\\), at "
              "byte 252 of a [_a-z]+ variable of 256 bytes .* \\[block \\(0,0,0\\)\\]");
}

TEST_F(RacecheckDeathTest, ATileOverwrittenBeforeEveryThreadReadItIsARace) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(2 * kThreads);
                tile_reuse_kernel<<<1, kThreads>>>(x, 2, x);
              }),
              ::testing::ExitedWithCode(0),
              "shared memory: a write of 4 bytes by thread \\(0,0,0\\) in .*tile_reuse_kernel.*, "
              "and a read by thread \\(63,0,0\\)");
}

TEST_F(RacecheckDeathTest, APlainSumOverThreadsIsARaceOnDeviceMemory) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(kThreads);
                float* sum = device_alloc<float>(1);
                plain_sum_kernel<<<1, kThreads>>>(x, sum);
              }),
              ::testing::ExitedWithCode(0),
              "data race on device memory \\(byte 0 of an allocation of 4\\): a read of 4 bytes by "
              "thread \\(1,0,0\\) in .*plain_sum_kernel.*, and a write by thread \\(0,0,0\\)");
}

TEST_F(RacecheckDeathTest, ReadingAnotherBlocksOutputIsARace) {
  EXPECT_EXIT(expect_race([] {
                float* y = device_alloc<float>(2 * kThreads);
                neighbour_block_kernel<<<2, kThreads>>>(y);
              }),
              ::testing::ExitedWithCode(0),
              "device memory \\(byte 252 of an allocation of 512\\): a read of 4 bytes .*, and a "
              "write by another block of the same launch");
}

TEST_F(RacecheckDeathTest, BlockReduceStorageReusedWithoutABarrierIsARace) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(kThreads);
                reused_storage_kernel<<<1, kThreads>>>(x, x);
              }),
              ::testing::ExitedWithCode(0),
              "data race on shared memory: a read of 4 bytes by thread \\(0,0,0\\) in "
              ".*reused_storage_kernel.*racecheck_test.cu:[0-9]+\\), and a "
              "write by thread \\(63,0,0\\)");
}

TEST_F(RacecheckDeathTest, SyncwarpDoesNotOrderTwoWarps) {
  EXPECT_EXIT(expect_race([] {
                int* out = device_alloc<int>(kThreads);
                cross_warp_kernel<<<1, kThreads>>>(out);
              }),
              ::testing::ExitedWithCode(0), "data race on shared memory.*cross_warp_kernel");
}

TEST_F(RacecheckDeathTest, APlainReadOfAnAtomicCounterIsARace) {
  EXPECT_EXIT(expect_race([] {
                int* counter = device_alloc<int>(2);
                atomic_and_plain_kernel<<<1, kThreads>>>(counter, counter + 1);
              }),
              ::testing::ExitedWithCode(0),
              "an atomic update of 4 bytes by thread \\(1,0,0\\).*, and a read by thread "
              "\\(0,0,0\\)");
}

// The checker also sees what the page protection cannot: an access past the end of an allocation
// that stays within its last page.
TEST_F(RacecheckDeathTest, AWritePastTheEndOfAnAllocationWithinItsLastPageFails) {
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(10);
                one_past_the_end_kernel<<<1, 11>>>(x);
              }),
              ::testing::ExitedWithCode(0),
              "out-of-bounds access to device memory \\(byte 40 of an allocation of 40\\): a "
              "write of 4 bytes by thread \\(10,0,0\\) in .*one_past_the_end_kernel.* runs "
              "past the end");
}

// And a vector access at an address that is not a multiple of its size: a fault on a GPU. On x86 it
// is one too when the compiler emits an aligned vector move (it may: float4 is 16-byte aligned),
// right after the report, so the launch fails or the process dies of SIGSEGV.
TEST_F(RacecheckDeathTest, AMisalignedFloat4LoadFails) {
  const auto failed_or_faulted = [](int status) {
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
           (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
  };
  EXPECT_EXIT(expect_race([] {
                float* x = device_alloc<float>(8);
                misaligned_kernel<<<1, 1>>>(x, device_alloc<float4>(1));
              }),
              failed_or_faulted,
              "misaligned address: a read of 16 bytes by thread \\(0,0,0\\) in "
              ".*misaligned_kernel.* at 4 bytes past a multiple of 16");
}

}  // namespace
