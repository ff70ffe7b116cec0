// cudaemu's stream-order checker (tools/cudaemu/src/streamcheck.cc): operations on two streams
// that nothing orders may run in either order, or at once, on a GPU; the emulator runs them in the
// order they were issued. With the race checker on, an operation that touches memory another
// stream's unordered operation wrote (or reads it while the other wrote it) fails with a report
// naming both. Events, host synchronisation and the legacy default stream's implicit
// synchronisation order operations, and then nothing is reported.
#include <gtest/gtest.h>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "tests/cudaemu/checker_test_util.h"

namespace {

using cudaemu_test::device_alloc;
using cudaemu_test::expect_race;
using cudaemu_test::to_host;

constexpr int kN = 64;  // elements per buffer: one block of kN threads

__global__ void fill_kernel(float* y, float value) {
  y[threadIdx.x] = value;
}

__global__ void copy_kernel(const float* x, float* y) {
  y[threadIdx.x] = x[threadIdx.x];
}

// Two non-blocking streams (no implicit synchronisation with the legacy default stream) and the
// checker on.
class Streamcheck : public cudaemu_test::Racecheck {
 protected:
  void SetUp() override {
    Racecheck::SetUp();
    ASSERT_EQ(cudaStreamCreateWithFlags(&a_, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaStreamCreateWithFlags(&b_, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), cudaSuccess);
  }
  void TearDown() override {
    cudaEventDestroy(event_);
    cudaStreamDestroy(a_);
    cudaStreamDestroy(b_);
    Racecheck::TearDown();
  }
  cudaStream_t a_ = nullptr;
  cudaStream_t b_ = nullptr;
  cudaEvent_t event_ = nullptr;
};
using StreamcheckDeathTest = Streamcheck;

TEST_F(Streamcheck, OperationsThatSomethingOrdersPass) {
  float* x = device_alloc<float>(kN);
  float* y = device_alloc<float>(kN);
  float* z = device_alloc<float>(kN);
  // An event recorded after the write, waited for by the reader's stream.
  fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(event_, a_), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(b_, event_, 0), cudaSuccess);
  copy_kernel<<<1, kN, 0, b_>>>(x, y);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  // Concurrent reads of x by both streams.
  copy_kernel<<<1, kN, 0, a_>>>(x, z);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  // The host waits for b (which read x), so work it issues afterwards comes after b's.
  ASSERT_EQ(cudaStreamSynchronize(b_), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(a_), cudaSuccess);
  fill_kernel<<<1, kN, 0, a_>>>(y, 2.0f);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  // ... likewise through an event.
  ASSERT_EQ(cudaEventRecord(event_, a_), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(event_), cudaSuccess);
  copy_kernel<<<1, kN, 0, b_>>>(y, z);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  // A blocking stream and the legacy default stream synchronise with each other.
  cudaStream_t blocking = nullptr;
  ASSERT_EQ(cudaStreamCreate(&blocking), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(b_), cudaSuccess);
  fill_kernel<<<1, kN, 0, blocking>>>(x, 3.0f);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  copy_kernel<<<1, kN>>>(x, z);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  fill_kernel<<<1, kN, 0, blocking>>>(x, 4.0f);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(to_host(z, kN)[5], 3.0f);  // cudaMemcpy: the legacy stream, and the host waits
  EXPECT_EQ(to_host(y, kN)[5], 2.0f);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(to_host(x, kN)[5], 4.0f);
  cudaStreamDestroy(blocking);
  for (float* p : {x, y, z}) cudaFree(p);
}

TEST_F(Streamcheck, NothingIsReportedWithTheCheckerOff) {
  cudaemu::set_racecheck(false);
  float* x = device_alloc<float>(kN);
  float* y = device_alloc<float>(kN);
  fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  copy_kernel<<<1, kN, 0, b_>>>(x, y);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(x);
  cudaFree(y);
}

TEST_F(StreamcheckDeathTest, ReadingWhatAnotherStreamWroteWithoutWaitingIsARace) {
  EXPECT_EXIT(expect_race([this] {
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                copy_kernel<<<1, kN, 0, b_>>>(x, y);
              }),
              ::testing::ExitedWithCode(0),
              "stream-order race on device memory \\(byte 0 of an allocation of 256\\): a read "
              "by the kernel launched at .*streamcheck_test.cu:[0-9]+ on stream #[0-9]+, and a "
              "write by the kernel launched at .*streamcheck_test.cu:[0-9]+ on stream #[0-9]+, "
              "which nothing orders before it");
}

TEST_F(StreamcheckDeathTest, WritingWhatAnotherStreamMayStillReadIsARace) {
  EXPECT_EXIT(expect_race([this] {
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                copy_kernel<<<1, kN, 0, a_>>>(x, y);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                fill_kernel<<<1, kN, 0, b_>>>(x, 1.0f);
              }),
              ::testing::ExitedWithCode(0),
              "stream-order race on device memory \\(byte 0 of an allocation of 256\\): a write "
              "by the kernel launched at .* and a read by the kernel launched at");
}

// An event orders only what its stream did before it was recorded.
TEST_F(StreamcheckDeathTest, AnEventRecordedBeforeTheWriteDoesNotOrderIt) {
  EXPECT_EXIT(expect_race([this] {
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                ASSERT_EQ(cudaEventRecord(event_, a_), cudaSuccess);
                fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                ASSERT_EQ(cudaStreamWaitEvent(b_, event_, 0), cudaSuccess);
                copy_kernel<<<1, kN, 0, b_>>>(x, y);
              }),
              ::testing::ExitedWithCode(0), "stream-order race on device memory");
}

// The data loader's pattern: a copy into device memory on a copy stream, read by the compute
// stream, which must wait for it.
TEST_F(StreamcheckDeathTest, ACopyTheReadingStreamDidNotWaitForIsARace) {
  EXPECT_EXIT(expect_race([this] {
                void* pinned = nullptr;
                ASSERT_EQ(cudaHostAlloc(&pinned, kN * sizeof(float), 0), cudaSuccess);
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                ASSERT_EQ(
                    cudaMemcpyAsync(x, pinned, kN * sizeof(float), cudaMemcpyHostToDevice, b_),
                    cudaSuccess);
                copy_kernel<<<1, kN, 0, a_>>>(x, y);
              }),
              ::testing::ExitedWithCode(0),
              "a read by the kernel launched at .* on stream #[0-9]+, and a write by "
              "cudaMemcpyAsync \\(host to device, 256 bytes\\) on stream #[0-9]+");
}

// A non-blocking stream does not synchronise with the legacy default stream.
TEST_F(StreamcheckDeathTest, TheLegacyStreamDoesNotWaitForANonBlockingStream) {
  EXPECT_EXIT(expect_race([this] {
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                copy_kernel<<<1, kN>>>(x, y);
              }),
              ::testing::ExitedWithCode(0),
              "a read by .* on the legacy default stream, and a write");
}

// A CUDA graph's replay is an operation of the stream it is launched on.
TEST_F(StreamcheckDeathTest, AGraphReplayIsOrderedLikeAnyOperation) {
  EXPECT_EXIT(expect_race([this] {
                float* x = device_alloc<float>(kN);
                float* y = device_alloc<float>(kN);
                ASSERT_EQ(cudaStreamBeginCapture(b_, cudaStreamCaptureModeGlobal), cudaSuccess);
                copy_kernel<<<1, kN, 0, b_>>>(x, y);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                cudaGraph_t graph = nullptr;
                ASSERT_EQ(cudaStreamEndCapture(b_, &graph), cudaSuccess);
                cudaGraphExec_t exec = nullptr;
                ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
                ASSERT_EQ(cudaGraphLaunch(exec, b_), cudaSuccess);
                ASSERT_EQ(cudaStreamSynchronize(b_), cudaSuccess);  // so far, all ordered
                fill_kernel<<<1, kN, 0, a_>>>(x, 1.0f);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                cudaGraphLaunch(exec, b_);
              }),
              ::testing::ExitedWithCode(0),
              "a read by the CUDA graph launched on stream #[0-9]+, and a write by the kernel");
}

// cuBLAS reports the matrices it reads and writes (as does cuDNN, its tensors).
TEST_F(StreamcheckDeathTest, ACublasGemmReadingAnUnorderedWriteIsARace) {
  EXPECT_EXIT(expect_race([this] {
                float* a = device_alloc<float>(kN);  // 8 x 8
                float* c = device_alloc<float>(kN);
                cublasHandle_t h = nullptr;
                ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
                ASSERT_EQ(cublasSetStream(h, b_), CUBLAS_STATUS_SUCCESS);
                fill_kernel<<<1, kN, 0, a_>>>(a, 1.0f);
                ASSERT_EQ(cudaGetLastError(), cudaSuccess);
                const float one = 1.0f, zero = 0.0f;
                cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, a, 8, a, 8, &zero, c, 8);
              }),
              ::testing::ExitedWithCode(0),
              "a read by a cuBLAS GEMM on stream #[0-9]+, and a write by the kernel launched");
}

// The host side of a copy from pinned memory: the buffer may be refilled only after the host
// waited for the copy (the data loader's slots). Until then its pages are read-only.
TEST_F(Streamcheck, APinnedBufferMayBeRefilledOnceTheHostWaitedForItsCopy) {
  float* pinned = nullptr;
  ASSERT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&pinned), 2 * kN * sizeof(float), 0),
            cudaSuccess);
  float* x = device_alloc<float>(kN);
  for (int i = 0; i < 2 * kN; ++i) pinned[i] = 1.0f;
  ASSERT_EQ(cudaMemcpyAsync(x, pinned, kN * sizeof(float), cudaMemcpyHostToDevice, a_),
            cudaSuccess);
  pinned[kN] = 2.0f;           // on the same page, but not what the copy reads
  EXPECT_EQ(pinned[0], 1.0f);  // reading is fine
  ASSERT_EQ(cudaEventRecord(event_, a_), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(event_), cudaSuccess);
  pinned[0] = 3.0f;
  ASSERT_EQ(cudaMemcpyAsync(x, pinned, kN * sizeof(float), cudaMemcpyHostToDevice, a_),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(a_), cudaSuccess);
  pinned[0] = 4.0f;
  EXPECT_EQ(to_host(x, kN)[0], 3.0f);
  cudaFree(x);
  cudaFreeHost(pinned);
}

TEST_F(StreamcheckDeathTest, RefillingAPinnedBufferACopyMayStillReadFaults) {
  EXPECT_DEATH(
      {
        float* pinned = nullptr;
        ASSERT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&pinned), kN * sizeof(float), 0),
                  cudaSuccess);
        float* x = device_alloc<float>(kN);
        ASSERT_EQ(cudaMemcpyAsync(x, pinned, kN * sizeof(float), cudaMemcpyHostToDevice, b_),
                  cudaSuccess);
        static_cast<volatile float*>(pinned)[3] = 1.0f;
      },
      "host code wrote pinned host memory \\(byte 12 of an allocation of 256\\) that "
      "cudaMemcpyAsync \\(host to device, 256 bytes\\) on stream #[0-9]+ may still be reading");
}

}  // namespace
