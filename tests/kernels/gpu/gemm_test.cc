// GEMM on a GPU: the hand-written kernels and cuBLAS against the CPU reference, for all four
// transpose combinations, odd and tile-straddling sizes, unaligned operands, split K, alpha/beta,
// a non-default stream and the TF32 switch. Outputs are poisoned before each run; small-integer
// inputs must give exactly the reference.
#include "kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/cuda_allocator.h"
#include "core/stream.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

const Device kGpu = Device::cuda(0);

struct Size {
  std::int64_t m, n, k;
};

std::string describe(const Size& s, bool ta, bool tb, GemmBackend be, DType dt) {
  return std::string(gemm_backend_name(be)) + " " + dtype_name(dt) + " m=" + std::to_string(s.m) +
         " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " ta=" + std::to_string(ta) +
         " tb=" + std::to_string(tb);
}

testing::Tolerance gemm_tolerance(DType dtype, std::int64_t k) {
  const double s = std::max(1.0, std::sqrt(static_cast<double>(k)) / 4.0);
  const testing::Tolerance base = testing::tolerance_for(dtype);
  return {base.atol * s, base.rtol, base.max_relative_error * s};
}

// Runs op(a) op(b) on the GPU with both backends and compares with the CPU reference: exactly on
// small integers (beta = 0, C poisoned), within tolerance on random data (alpha, beta != 0).
void check_case(const Size& s, bool ta, bool tb, DType dt, std::uint64_t seed) {
  const Shape sa = ta ? Shape{s.k, s.m} : Shape{s.m, s.k};
  const Shape sb = tb ? Shape{s.n, s.k} : Shape{s.k, s.n};
  for (bool small_int : {true, false}) {
    const Tensor a =
        small_int ? testing::small_int_tensor(sa, dt, seed) : testing::random_tensor(sa, dt, seed);
    const Tensor b = small_int ? testing::small_int_tensor(sb, dt, seed + 1)
                               : testing::random_tensor(sb, dt, seed + 1);
    const Tensor c0 = testing::random_tensor({s.m, s.n}, dt, seed + 2);
    const double alpha = small_int ? 1.0 : 1.5, beta = small_int ? 0.0 : -0.5;
    Tensor ref = c0.clone();
    gemm(a, ta, b, tb, ref, alpha, beta, GemmBackend::kReference);
    const Tensor ga = a.to(kGpu), gb = b.to(kGpu);
    for (GemmBackend be : {GemmBackend::kNative, GemmBackend::kCublas}) {
      Tensor c = c0.to(kGpu);
      if (small_int) testing::poison(c);
      gemm(ga, ta, gb, tb, c, alpha, beta, be);
      const std::string what = describe(s, ta, tb, be, dt) + (small_int ? " int" : " random");
      if (small_int) {
        EXPECT_TRUE(all_equal(c, ref)) << what;
      } else {
        EXPECT_TRUE(all_close(c, ref, gemm_tolerance(dt, s.k))) << what;
      }
    }
  }
}

class GemmGpu : public ::testing::TestWithParam<DType> {};

TEST_P(GemmGpu, OddSizesAllTransposesMatchCpuReference) {
  CUDANET_REQUIRE_GPU();
  const std::vector<Size> sizes = {{1, 1, 1},       {3, 13, 127},    {13, 3, 128},
                                   {127, 129, 255}, {128, 128, 128}, {129, 255, 13},
                                   {1000, 129, 3},  {255, 1000, 1},  {1, 1000, 129}};
  std::uint64_t seed = 100;
  for (const Size& s : sizes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) check_case(s, ta, tb, GetParam(), seed += 3);
    }
  }
}

// Few output tiles and a long K: the native kernel splits K across blocks (float32).
TEST_P(GemmGpu, LongKAndLargeSizes) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 500;
  for (const Size& s : {Size{64, 128, 4096}, Size{3, 1000, 1000}, Size{129, 13, 2049}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) check_case(s, ta, tb, GetParam(), seed += 3);
    }
  }
  check_case({1000, 1000, 255}, false, false, GetParam(), seed + 10);
}

// Views whose first element is not 16-byte aligned, and row strides that are not multiples of
// four, take the scalar-load path.
TEST_P(GemmGpu, UnalignedOperands) {
  CUDANET_REQUIRE_GPU();
  const DType dt = GetParam();
  const Tensor a_big = testing::small_int_tensor({131, 37}, dt, 7).to(kGpu);
  const Tensor b_big = testing::small_int_tensor({38, 133}, dt, 8).to(kGpu);
  const Tensor a = a_big.narrow(0, 1, 130);  // [130, 37], offset 37 elements
  const Tensor b = b_big.narrow(0, 1, 37);   // [37, 133], offset 133 elements
  const Tensor ref =
      matmul(a.to(Device::cpu()), b.to(Device::cpu()), false, false, GemmBackend::kReference);
  for (GemmBackend be : {GemmBackend::kNative, GemmBackend::kCublas}) {
    Tensor c_big = Tensor::empty({131, 133}, dt, kGpu);
    testing::poison(c_big);
    Tensor c = c_big.narrow(0, 1, 130);
    gemm(a, false, b, false, c, 1.0, 0.0, be);
    EXPECT_TRUE(all_equal(c, ref)) << gemm_backend_name(be);
    EXPECT_TRUE(std::isnan(testing::as_doubles(c_big.narrow(0, 0, 1))[5]))
        << gemm_backend_name(be) << " wrote outside c";
  }
}

TEST_P(GemmGpu, KZeroScalesCAndEmptyMatricesAreNoOps) {
  CUDANET_REQUIRE_GPU();
  const DType dt = GetParam();
  for (GemmBackend be : {GemmBackend::kDefault, GemmBackend::kNative, GemmBackend::kCublas}) {
    Tensor c = Tensor::full({5, 3}, 2.0, dt, kGpu);
    gemm(Tensor::empty({5, 0}, dt, kGpu), false, Tensor::empty({0, 3}, dt, kGpu), false, c, 1.0,
         -1.5, be);
    EXPECT_TRUE(all_equal(c, Tensor::full({5, 3}, -3.0, dt))) << gemm_backend_name(be);
    EXPECT_EQ(
        matmul(Tensor::empty({0, 4}, dt, kGpu), Tensor::empty({4, 3}, dt, kGpu), false, false, be)
            .shape(),
        (Shape{0, 3}));
  }
}

TEST_P(GemmGpu, RunsOnTheCurrentNonDefaultStream) {
  CUDANET_REQUIRE_GPU();
  const DType dt = GetParam();
  const Tensor a = testing::small_int_tensor({200, 300}, dt, 9);
  const Tensor b = testing::small_int_tensor({150, 300}, dt, 10);
  const Tensor ref = matmul(a, b, false, true, GemmBackend::kReference);
  const Stream side = ::cudanet::cuda::new_stream(0);
  for (GemmBackend be : {GemmBackend::kNative, GemmBackend::kCublas}) {
    Tensor c;
    {
      ::cudanet::cuda::StreamGuard guard(side);
      c = matmul(a.to(kGpu), b.to(kGpu), false, true, be);
      side.synchronize();
    }
    EXPECT_TRUE(all_equal(c, ref)) << gemm_backend_name(be);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GemmGpu, ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(dtype_name(p.param));
                         });

// The default is strict FP32: random data agree with the double-accumulated reference to FP32
// accuracy, which TF32 (10-bit mantissa) would not. With TF32 allowed the error grows but stays
// within TF32's bounds.
TEST(GemmGpuTf32, SwitchChangesCublasPrecision) {
  CUDANET_REQUIRE_GPU();
  const bool before = allow_tf32();
  const Tensor a = testing::random_tensor({256, 512}, DType::kFloat32, 21);
  const Tensor b = testing::random_tensor({512, 256}, DType::kFloat32, 22);
  const Tensor ref = matmul(a, b, false, false, GemmBackend::kReference);
  set_allow_tf32(false);
  EXPECT_TRUE(all_close(matmul(a.to(kGpu), b.to(kGpu), false, false, GemmBackend::kCublas), ref,
                        gemm_tolerance(DType::kFloat32, 512)));
  set_allow_tf32(true);
  const Tensor tf32 = matmul(a.to(kGpu), b.to(kGpu), false, false, GemmBackend::kCublas);
  EXPECT_TRUE(all_close(tf32, ref, testing::Tolerance{5e-2, 1e-2, 5e-3}));
  // The hand-written kernel ignores the switch: always FP32.
  EXPECT_TRUE(all_close(matmul(a.to(kGpu), b.to(kGpu), false, false, GemmBackend::kNative), ref,
                        gemm_tolerance(DType::kFloat32, 512)));
  set_allow_tf32(before);
}

// cuBLAS works in a workspace from the caching allocator, one per stream (so the allocator's
// statistics count it), for a bounded number of streams per thread: cudanet's streams are never
// destroyed, and a workspace per stream ever used would grow without end. Past the bound cuBLAS
// uses its own pool, with the same results.
TEST(GemmGpuWorkspace, StreamsGetAllocatorWorkspacesUpToABound) {
  CUDANET_REQUIRE_GPU();
  const Tensor a = testing::small_int_tensor({33, 17}, DType::kFloat32, 5);
  const Tensor b = testing::small_int_tensor({17, 9}, DType::kFloat32, 6);
  const Tensor ref = matmul(a, b, false, false, GemmBackend::kReference);
  const Tensor ga = a.to(kGpu), gb = b.to(kGpu);
  std::vector<std::int64_t> growth;
  for (int i = 0; i < 12; ++i) {
    const Stream stream = ::cudanet::cuda::new_stream(0);
    ::cudanet::cuda::StreamGuard guard(stream);
    Tensor c = Tensor::empty({33, 9}, DType::kFloat32, kGpu);
    const std::int64_t with_c = ::cudanet::cuda::memory_stats(0).allocated_bytes.current;
    gemm(ga, false, gb, false, c, 1.0, 0.0, GemmBackend::kCublas);
    stream.synchronize();
    growth.push_back(::cudanet::cuda::memory_stats(0).allocated_bytes.current - with_c);
    EXPECT_TRUE(all_equal(c, ref)) << "stream " << i;
  }
  const std::int64_t workspace = growth[0];
  EXPECT_GE(workspace, std::int64_t{4} << 20) << "the first stream's workspace";
  int with_workspace = 0;
  for (std::size_t i = 0; i < growth.size(); ++i) {
    EXPECT_TRUE(growth[i] == workspace || growth[i] == 0) << "stream " << i << ": " << growth[i];
    if (growth[i] == workspace) {
      EXPECT_EQ(static_cast<int>(i), with_workspace) << "the bound applies to the later streams";
      ++with_workspace;
    }
  }
  EXPECT_GE(with_workspace, 2);
  EXPECT_LT(with_workspace, 12) << "every stream kept a workspace";
}

TEST(GemmGpuErrors, ReferenceBackendAndDeviceMixAreRejected) {
  CUDANET_REQUIRE_GPU();
  const Tensor a = Tensor::zeros({2, 3}, DType::kFloat32, kGpu);
  const Tensor b = Tensor::zeros({3, 2}, DType::kFloat32, kGpu);
  Tensor c = Tensor::zeros({2, 2}, DType::kFloat32, kGpu);
  EXPECT_THROW(gemm(a, false, b, false, c, 1.0, 0.0, GemmBackend::kReference), ValueError);
  EXPECT_THROW(matmul(a, Tensor::zeros({3, 2})), ValueError);
  EXPECT_THROW(matmul(a, Tensor::zeros({2, 2}, DType::kFloat32, kGpu)), ShapeError);
}

}  // namespace
}  // namespace cudanet::kernels
