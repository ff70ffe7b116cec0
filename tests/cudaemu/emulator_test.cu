// The cudaemu CPU emulator itself (tools/cudaemu): that it runs kernels as CUDA would, and that it
// catches what its README says it catches. Built only with CUDANET_CUDA=EMULATE. A fault leaves
// the emulated device in a sticky error state, as on a GPU, so every fault is provoked in a
// child process (a GoogleTest death test).
#include <cmath>
#include <cstdlib>
#include <gtest/gtest.h>
#include <numeric>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cudaemu/racecheck.h"

namespace {

constexpr int kThreads = 128;

// Sum of x[0, n) by one block: shared memory, a tree, a barrier per level.
__global__ void block_sum_kernel(const float* x, int n, float* out) {
  __shared__ float partial[kThreads];
  float v = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += x[i];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < static_cast<unsigned>(stride)) {
      partial[threadIdx.x] += partial[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = partial[0];
}

// Each thread reads its neighbour's shared slot; with_barrier = false forgets the barrier.
__global__ void neighbour_kernel(int* out, int salt, bool with_barrier) {
  __shared__ int slot[kThreads];
  slot[threadIdx.x] = static_cast<int>(threadIdx.x) + salt;
  if (with_barrier) __syncthreads();
  out[threadIdx.x] = slot[(threadIdx.x + 1) % kThreads];
}

// Block 0 fills its shared tile, the others do not; every block copies its tile to out.
__global__ void first_block_fills_kernel(float* out) {
  __shared__ float tile[kThreads];
  if (blockIdx.x == 0) tile[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[blockIdx.x * kThreads + threadIdx.x] = tile[threadIdx.x];
}

// The classic bug: threads past n return, the rest wait at a barrier.
__global__ void early_return_kernel(float* x, int n) {
  if (static_cast<int>(threadIdx.x) >= n) return;
  x[threadIdx.x] = 1;
  __syncthreads();
}

__global__ void scale_kernel(float* x, float a, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] *= a;
}

template <typename T>
T* device_alloc(std::size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

TEST(Cudaemu, SharedMemoryAndBarriersGiveTheBlockSum) {
  std::vector<float> host(1000);
  std::iota(host.begin(), host.end(), 1.0f);
  float* x = device_alloc<float>(host.size());
  float* out = device_alloc<float>(1);
  ASSERT_EQ(cudaMemcpy(x, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  block_sum_kernel<<<1, kThreads>>>(x, 1000, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  float sum = 0;
  ASSERT_EQ(cudaMemcpy(&sum, out, sizeof sum, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(sum, 500500.0f);
  cudaFree(x);
  cudaFree(out);
}

TEST(Cudaemu, AMissingBarrierReadsAnUnwrittenSlot) {
  // (What the schedule alone shows: with CUDAEMU_RACECHECK=1 the race checker would fail the
  // racy launch itself, as tests/cudaemu/racecheck_test.cu checks.)
  const bool racecheck = cudaemu::racecheck_enabled();
  cudaemu::set_racecheck(false);
  int* out = device_alloc<int>(kThreads);
  std::vector<int> host(kThreads);
  // Shared memory, as on a GPU, starts with whatever the previous block left there.
  for (int salt : {1, 2}) {
    const bool with_barrier = salt == 1;
    ASSERT_EQ(cudaMemset(out, 0, kThreads * sizeof(int)), cudaSuccess);
    neighbour_kernel<<<1, kThreads>>>(out, salt, with_barrier);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(host.data(), out, kThreads * sizeof(int), cudaMemcpyDeviceToHost),
              cudaSuccess);
    int right = 0;
    for (int t = 0; t < kThreads; ++t) right += host[t] == (t + 1) % kThreads + salt;
    if (with_barrier) {
      EXPECT_EQ(right, kThreads);
    } else {
      EXPECT_LT(right, kThreads) << "without the barrier some thread must read too early";
    }
  }
  cudaFree(out);
  cudaemu::set_racecheck(racecheck);
}

TEST(Cudaemu, SharedMemoryABlockHasNotWrittenIsPoisoned) {
  const char* poison = std::getenv("CUDAEMU_POISON");
  if (poison != nullptr && std::string(poison) == "0") {
    GTEST_SKIP() << "CUDAEMU_POISON=0 turns the poisoning off";
  }
  // (Under CUDAEMU_RACECHECK=1 the checker fails the launch instead, as racecheck_test.cu checks.)
  const bool racecheck = cudaemu::racecheck_enabled();
  cudaemu::set_racecheck(false);
  float* out = device_alloc<float>(2 * kThreads);
  for (int launch = 0; launch < 2; ++launch) {  // the second launch's block 0 writes over poison
    first_block_fills_kernel<<<2, kThreads>>>(out);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    std::vector<float> host(2 * kThreads);
    ASSERT_EQ(cudaMemcpy(host.data(), out, host.size() * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(host[5], 5.0f);
    // Block 1 does not see block 0's values (nor zeros): every bit set, a NaN.
    for (int t = 0; t < kThreads; ++t) ASSERT_TRUE(std::isnan(host[kThreads + t])) << t;
  }
  cudaFree(out);
  cudaemu::set_racecheck(racecheck);
}

TEST(Cudaemu, GraphReplaysTheCapturedLaunchesWithTheirArguments) {
  float* x = device_alloc<float>(4);
  const std::vector<float> ones(4, 1.0f);
  ASSERT_EQ(cudaMemcpy(x, ones.data(), sizeof(float) * 4, cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  float factor = 3.0f;
  scale_kernel<<<1, 32, 0, s>>>(x, factor, 4);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  factor = 100.0f;  // a launch takes its arguments when it is made, not when it runs
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  std::vector<float> host(4);
  ASSERT_EQ(cudaMemcpy(host.data(), x, sizeof(float) * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(host[0], 1.0f) << "captured work must not run at capture";
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(host.data(), x, sizeof(float) * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(host[3], 9.0f);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  cudaFree(x);
}

TEST(Cudaemu, SynchronisingACapturingStreamInvalidatesTheCapture) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t graph = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  (void)cudaGetLastError();
  cudaStreamDestroy(s);
}

// So does synchronising the whole device, and waiting for an event recorded inside the capture
// (an event recorded before it may be queried).
TEST(Cudaemu, DeviceSyncAndQueriesOfCapturedEventsInvalidateTheCapture) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t before = nullptr, inside = nullptr;
  ASSERT_EQ(cudaEventCreate(&before), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&inside), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(before, s), cudaSuccess);
  for (int misuse = 0; misuse < 2; ++misuse) {
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
    EXPECT_EQ(cudaEventQuery(before), cudaSuccess);
    ASSERT_EQ(cudaEventRecord(inside, s), cudaSuccess);
    if (misuse == 0) {
      EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorStreamCaptureUnsupported);
    } else {
      EXPECT_EQ(cudaEventQuery(inside), cudaErrorStreamCaptureUnsupported);
    }
    cudaGraph_t graph = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated) << misuse;
    (void)cudaGetLastError();
  }
  EXPECT_EQ(cudaEventQuery(inside), cudaSuccess) << "once the capture is over";
  cudaEventDestroy(before), cudaEventDestroy(inside);
  cudaStreamDestroy(s);
}

TEST(Cudaemu, DeviceMemoryIsFiniteAndAFullDeviceFailsTheMalloc) {
  std::size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "an allocation failure is not sticky";
}

TEST(Cudaemu, CublasChecksItsLeadingDimensions) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float one = 1, zero = 0;
  float* a = device_alloc<float>(6);
  // A is 3 x 2 column-major: lda must be at least 3.
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 3, 1, 2, &one, a, 2, a, 2, &zero, a, 3),
            CUBLAS_STATUS_INVALID_VALUE);
  cublasDestroy(h);
  cudaFree(a);
}

// A 1 x 1 x 1 product of 1 + 2^-12 (12 mantissa bits) with 1: exact in FP32, 1 in TF32.
TEST(Cudaemu, CublasTf32MathRoundsFp32Operands) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const float one = 1, zero = 0, fine = 1.0f + 1.0f / 4096;
  float* a = device_alloc<float>(1);
  float* b = device_alloc<float>(1);
  float* c = device_alloc<float>(1);
  ASSERT_EQ(cudaMemcpy(a, &fine, sizeof fine, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(b, &one, sizeof one, cudaMemcpyHostToDevice), cudaSuccess);
  for (cublasMath_t math : {CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH}) {
    ASSERT_EQ(cublasSetMathMode(h, math), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, a, 1, b, 1, &zero, c, 1),
              CUBLAS_STATUS_SUCCESS);
    float got = 0;
    ASSERT_EQ(cudaMemcpy(&got, c, sizeof got, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got, math == CUBLAS_DEFAULT_MATH ? fine : 1.0f) << "math mode " << math;
  }
  cublasDestroy(h);
  cudaFree(a), cudaFree(b), cudaFree(c);
}

std::size_t free_device_bytes() {
  std::size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  return free_bytes;
}

// A 1 x 1 x 1 SGEMM on the handle's stream, captured into a graph (then dropped) when `capture`.
void tiny_sgemm(cublasHandle_t h, cudaStream_t stream, bool capture, float* m) {
  const float one = 1, zero = 0;
  if (capture) {
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), cudaSuccess);
  }
  ASSERT_EQ(cublasSetStream(h, stream), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, m, 1, m, 1, &zero, m, 1),
            CUBLAS_STATUS_SUCCESS);
  if (capture) {
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  }
}

// The default workspace pool: allocated by the handle once per stream, and once more for every
// capture; after cublasSetWorkspace (which cublasSetStream undoes) captures take nothing.
TEST(Cudaemu, CublasDefaultWorkspaceGrowsWithEveryCaptureAUserWorkspaceDoesNot) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  float* m = device_alloc<float>(1);
  const std::size_t before = free_device_bytes();
  tiny_sgemm(h, stream, false, m);
  const std::size_t eager = free_device_bytes();
  EXPECT_LT(eager, before) << "the first GEMM on a stream allocates the pool's workspace";
  tiny_sgemm(h, stream, false, m);
  EXPECT_EQ(free_device_bytes(), eager) << "and reuses it";
  tiny_sgemm(h, stream, true, m);
  const std::size_t one_capture = free_device_bytes();
  EXPECT_LT(one_capture, eager) << "a capture takes a workspace of its own";
  tiny_sgemm(h, stream, true, m);
  EXPECT_LT(free_device_bytes(), one_capture) << "and so does the next one";

  float* user = device_alloc<float>(1024);
  const std::size_t with_user = free_device_bytes();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(cublasSetStream(h, stream), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasSetWorkspace(h, user, 1024 * sizeof(float)), CUBLAS_STATUS_SUCCESS);
    const float one = 1, zero = 0;
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), cudaSuccess);
    ASSERT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, m, 1, m, 1, &zero, m, 1),
              CUBLAS_STATUS_SUCCESS);
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  }
  EXPECT_EQ(free_device_bytes(), with_user) << "captures with a user workspace allocate nothing";
  EXPECT_EQ(cublasSetWorkspace(h, reinterpret_cast<char*>(user) + 4, 64),
            CUBLAS_STATUS_INVALID_VALUE)
      << "a workspace must be 256-byte aligned";
  ASSERT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(free_device_bytes(), with_user + (before - eager) * 3)
      << "cublasDestroy frees the pool's workspaces";
  cudaFree(user), cudaFree(m);
  cudaStreamDestroy(stream);
}

using CudaemuDeathTest = ::testing::Test;

TEST(CudaemuDeathTest, HostAccessToDeviceMemoryFaultsAndSaysSo) {
  if (const char* p = std::getenv("CUDAEMU_PROTECT"); p != nullptr && p[0] == '0') {
    GTEST_SKIP() << "CUDAEMU_PROTECT=0 turns the protection off";
  }
  EXPECT_DEATH(
      {
        float* x = device_alloc<float>(4);
        volatile float v = x[0];  // the bug: a device pointer read on the host
        (void)v;
      },
      "host code accessed device memory");
}

TEST(CudaemuDeathTest, AGemmWhoseWorkspaceWasFreedFaults) {
  EXPECT_EXIT(
      {
        cublasHandle_t h = nullptr;
        cublasCreate(&h);
        float* m = device_alloc<float>(1);
        float* workspace = device_alloc<float>(1024);
        cublasSetWorkspace(h, workspace, 1024 * sizeof(float));
        cudaFree(workspace);  // the bug: the handle still uses it
        const float one = 1;
        const float zero = 0;
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, m, 1, m, 1, &zero, m, 1);
        std::exit(cudaDeviceSynchronize() == cudaErrorIllegalAddress ? 3 : 0);
      },
      ::testing::ExitedWithCode(3), "workspace is not \\(or no longer\\) device memory");
}

TEST(CudaemuDeathTest, AHostPointerArgumentFailsTheLaunch) {
  EXPECT_EXIT(
      {
        std::vector<float> host(32, 1.0f);
        scale_kernel<<<1, 32>>>(host.data(), 2.0f, 32);
        std::exit(cudaGetLastError() == cudaErrorIllegalAddress ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "not device memory");
}

TEST(CudaemuDeathTest, ABarrierAfterAnEarlyReturnFailsTheLaunch) {
  EXPECT_EXIT(
      {
        float* x = device_alloc<float>(64);
        early_return_kernel<<<1, 64>>>(x, 40);
        const bool failed = cudaGetLastError() == cudaErrorLaunchFailure;
        const bool sticky = cudaMalloc(reinterpret_cast<void**>(&x), 4) != cudaSuccess;
        std::exit(failed && sticky ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "exited");
}

TEST(CudaemuDeathTest, ATooLargeBlockIsAnInvalidConfiguration) {
  EXPECT_EXIT(
      {
        float* x = device_alloc<float>(4);
        scale_kernel<<<1, 2048>>>(x, 2.0f, 4);
        std::exit(cudaGetLastError() == cudaErrorInvalidConfiguration ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "invalid launch configuration");
}

TEST(CudaemuDeathTest, ALaunchWithoutALaunchCheckFailsTheNextLaunch) {
  EXPECT_EXIT(
      {
        float* x = device_alloc<float>(4);
        scale_kernel<<<1, 32>>>(x, 2.0f, 4);  // the bug: no cudaGetLastError() after it
        scale_kernel<<<1, 32>>>(x, 2.0f, 4);
        std::exit(cudaGetLastError() == cudaErrorLaunchFailure ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "not followed by a launch check");
}

TEST(CudaemuDeathTest, ACopyPastTheEndOfAnAllocationFails) {
  EXPECT_EXIT(
      {
        float* x = device_alloc<float>(4);
        std::vector<float> host(8);
        const cudaError_t e = cudaMemcpy(x, host.data(), 8 * sizeof(float), cudaMemcpyHostToDevice);
        std::exit(e == cudaErrorInvalidValue ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "runs past the end");
}

}  // namespace
