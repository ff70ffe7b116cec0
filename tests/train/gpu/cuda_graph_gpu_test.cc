// CudaGraph on a GPU with cuBLAS inside: the graph replays the captured product, cuBLAS works in
// the workspace cudanet gives it from the caching allocator (so the allocator's statistics count
// it), and capturing again (as the trainer does every epoch) takes no further device memory.
// Left to itself cuBLAS would allocate a fresh workspace for every graph captured. And running out
// of memory during a capture is an OutOfMemoryError that leaves the capture intact.
//
// Note: the test reads the device's free memory, so it must not share the GPU with other tests:
// its name ends in FreeDeviceMemory, which ctest runs serially (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/stream.h"
#include "gpu_memory.h"
#include "kernels/gemm.h"
#include "tensor_testing.h"
#include "test_util.h"
#include "train/cuda_graph.h"

namespace cudanet::train {
namespace {

using ::cudanet::testing::device_free_bytes;
using ::cudanet::testing::kMiB;

TEST(CudaGraphGpu, RepeatedCublasCapturesKeepFreeDeviceMemory) {
  CUDANET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const Tensor a = testing::small_int_tensor({64, 48}, DType::kFloat32, 3).to(gpu);
  const Tensor b = testing::small_int_tensor({48, 32}, DType::kFloat32, 4).to(gpu);
  const Tensor ref = kernels::matmul(a.to(Device::cpu()), b.to(Device::cpu()), false, false,
                                     kernels::GemmBackend::kReference);
  Tensor c = Tensor::zeros({64, 32}, DType::kFloat32, gpu);
  const Stream stream = cuda::new_stream(0);
  // c was zeroed on the default stream; the products on `stream` overwrite it only after that.
  // (Without this wait, the emulator's stream-order checker reports the race.)
  Event zeroed(gpu);
  zeroed.record(cuda::current_stream(0));
  stream.wait(zeroed);
  cuda::StreamGuard guard(stream);

  // The first product on the stream takes its workspace, from the caching allocator.
  const MemoryStats before = cuda::memory_stats(0);
  kernels::gemm(a, false, b, false, c, 1.0, 0.0, kernels::GemmBackend::kCublas);
  stream.synchronize();
  const MemoryStats eager = cuda::memory_stats(0);
  EXPECT_GE(eager.allocated_bytes.current - before.allocated_bytes.current,
            static_cast<std::int64_t>(4 * kMiB))
      << "cuBLAS's workspace is not counted by the caching allocator";
  EXPECT_TRUE(testing::all_equal(c, ref));

  const std::size_t free_before = device_free_bytes();
  for (int capture = 0; capture < 3; ++capture) {
    CudaGraph graph;
    graph.begin_capture(stream);
    testing::poison(c);  // captured too: every replay must rewrite c
    kernels::gemm(a, false, b, false, c, 1.0, 0.0, kernels::GemmBackend::kCublas);
    graph.end_capture();
    graph.replay(stream);
    stream.synchronize();
    EXPECT_TRUE(testing::all_equal(c, ref)) << "replay of capture " << capture;
  }
  const std::size_t free_after = device_free_bytes();
  // Less than one 4 MiB workspace for all three captures (the driver may keep a little for the
  // graphs themselves).
  EXPECT_LT(free_before - std::min(free_before, free_after), 4 * kMiB)
      << "free device memory fell from " << free_before << " to " << free_after
      << " bytes over three captures";
  EXPECT_EQ(cuda::memory_stats(0).num_backend_mallocs, eager.num_backend_mallocs)
      << "the captures allocated through the caching allocator";
}

// The allocator's usual answer to a full device (wait for pending stream events, return cached
// segments, retry) would synchronise the device inside the capture, which CUDA refuses.
TEST(CudaGraphGpu, OutOfMemoryDuringACaptureIsAnOutOfMemoryErrorAndTheCaptureGoesOn) {
  CUDANET_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  const Stream stream = cuda::new_stream(0), other = cuda::new_stream(0);
  cuda::StreamGuard guard(stream);
  {
    Tensor used_elsewhere = Tensor::zeros({1 << 20}, DType::kFloat32, gpu);
    used_elsewhere.storage().record_stream(other);
  }  // freed: its block waits for an event on `other`
  CudaGraph graph;
  graph.begin_capture(stream);
  const auto too_many = static_cast<std::int64_t>(cuda::properties(0).total_memory / 4 + 1);
  try {
    (void)Tensor::empty({too_many}, DType::kFloat32, gpu);
    ADD_FAILURE() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(e.message().find("a CUDA graph capture was recording the stream"), std::string::npos)
        << e.message();
  }
  Tensor small = Tensor::zeros({256}, DType::kFloat32, gpu);  // captured: the capture goes on
  graph.end_capture();
  graph.replay(stream);
  stream.synchronize();
  EXPECT_TRUE(testing::all_equal(small, Tensor::zeros({256})));
}

}  // namespace
}  // namespace cudanet::train
