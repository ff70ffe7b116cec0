// Linear op on a GPU: forward and backward against the CPU reference with both GEMM backends,
// poisoned outputs, exact small-integer results, gradient accumulation, and the bias gradient's
// multi-pass deterministic reduction.
#include "kernels/linear.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <string>
#include <tuple>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;

const Device kGpu = Device::cuda(0);

testing::Tolerance tolerance(DType dtype, std::int64_t k) {
  const double s = std::max(1.0, std::sqrt(static_cast<double>(k)) / 4.0);
  const testing::Tolerance base = testing::tolerance_for(dtype);
  return {base.atol * s, base.rtol, base.max_relative_error * s};
}

class LinearGpu : public ::testing::TestWithParam<DType> {};

TEST_P(LinearGpu, ForwardBackwardMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const DType dt = GetParam();
  std::uint64_t seed = 1;
  for (const auto& [n, in, out] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>{
           {1, 3, 13}, {128, 257, 129}, {7, 1000, 10}, {13, 4, 300}}) {
    for (bool small_int : {true, false}) {
      const auto gen = [&](const Shape& s) {
        return small_int ? testing::small_int_tensor(s, dt, seed++)
                         : testing::random_tensor(s, dt, seed++);
      };
      const Tensor x = gen({n, in}), w = gen({out, in}), b = gen({out}), dy = gen({n, out});
      const Tensor y_ref = linear_forward(x, w, &b, GemmBackend::kReference);
      const LinearGrads g_ref = linear_backward(dy, x, w, true, GemmBackend::kReference);
      const Tensor gx = x.to(kGpu), gw = w.to(kGpu), gbias = b.to(kGpu), gdy = dy.to(kGpu);
      for (GemmBackend be : {GemmBackend::kNative, GemmBackend::kCublas}) {
        const std::string what = std::string(gemm_backend_name(be)) + " " + dtype_name(dt) + " " +
                                 std::to_string(n) + "x" + std::to_string(in) + "->" +
                                 std::to_string(out) + (small_int ? " int" : " random");
        const Tensor y = linear_forward(gx, gw, &gbias, be);
        Tensor dx = poisoned({n, in}, dt), dw = poisoned({out, in}, dt), db = poisoned({out}, dt);
        linear_backward_into(gdy, gx, gw, &dx, &dw, &db, false, be);
        if (small_int) {
          EXPECT_TRUE(all_equal(y, y_ref)) << "y " << what;
          EXPECT_TRUE(all_equal(dx, g_ref.dx)) << "dx " << what;
          EXPECT_TRUE(all_equal(dw, g_ref.dw)) << "dw " << what;
          EXPECT_TRUE(all_equal(db, g_ref.db)) << "db " << what;
        } else {
          EXPECT_TRUE(all_close(y, y_ref, tolerance(dt, in))) << "y " << what;
          EXPECT_TRUE(all_close(dx, g_ref.dx, tolerance(dt, out))) << "dx " << what;
          EXPECT_TRUE(all_close(dw, g_ref.dw, tolerance(dt, n))) << "dw " << what;
          EXPECT_TRUE(all_close(db, g_ref.db, tolerance(dt, n))) << "db " << what;
        }
      }
    }
  }
}

TEST_P(LinearGpu, AccumulatesLikeTheCpu) {
  CUDANET_REQUIRE_GPU();
  const DType dt = GetParam();
  const Tensor x = testing::small_int_tensor({9, 6}, dt, 31);
  const Tensor w = testing::small_int_tensor({5, 6}, dt, 32);
  const Tensor dy = testing::small_int_tensor({9, 5}, dt, 33);
  Tensor dw_cpu = testing::small_int_tensor({5, 6}, dt, 34), db_cpu = Tensor::full({5}, 3.0, dt);
  Tensor dw = dw_cpu.to(kGpu), db = db_cpu.to(kGpu);
  linear_backward_into(dy, x, w, nullptr, &dw_cpu, &db_cpu, true);
  linear_backward_into(dy.to(kGpu), x.to(kGpu), w.to(kGpu), nullptr, &dw, &db, true);
  EXPECT_TRUE(all_equal(dw, dw_cpu));
  EXPECT_TRUE(all_equal(db, db_cpu));
  const LinearGrads no_bias = linear_backward(dy.to(kGpu), x.to(kGpu), w.to(kGpu), false);
  EXPECT_FALSE(no_bias.db.defined());
  EXPECT_EQ(no_bias.dx.device(), kGpu);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearGpu, ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(dtype_name(p.param));
                         });

// Tall inputs take two and three reduction passes; the result never depends on the run.
TEST(LinearGpuBias, BiasGradIsDeterministicAndMatchesCpu) {
  CUDANET_REQUIRE_GPU();
  for (const auto& [rows, cols] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {1, 1}, {255, 33}, {257, 31}, {100000, 37}, {3000, 4096}}) {
    const Tensor dy = testing::random_tensor({rows, cols}, DType::kFloat32, 40 + rows);
    const Tensor ref = bias_grad(dy);
    const Tensor gdy = dy.to(kGpu);
    Tensor first = poisoned({cols}, DType::kFloat32), second = poisoned({cols}, DType::kFloat32);
    bias_grad(gdy, first);
    bias_grad(gdy, second);
    const std::string what = std::to_string(rows) + "x" + std::to_string(cols);
    EXPECT_TRUE(all_equal(first, second)) << what;
    EXPECT_TRUE(all_close(first, ref, tolerance(DType::kFloat32, rows))) << what;
    const Tensor ints = testing::small_int_tensor({rows, cols}, DType::kFloat64, 50 + rows);
    EXPECT_TRUE(all_equal(bias_grad(ints.to(kGpu)), bias_grad(ints))) << what;
  }
}

TEST(LinearGpuBias, BiasAddMatchesCpu) {
  CUDANET_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    Tensor y = testing::random_tensor({13, 1001}, dt, 60);
    const Tensor b = testing::random_tensor({1001}, dt, 61);
    Tensor gy = y.to(kGpu);
    bias_add(gy, b.to(kGpu));
    bias_add(y, b);
    EXPECT_TRUE(all_equal(gy, y)) << dtype_name(dt);
  }
}

TEST(LinearGpuErrors, DeviceMixIsRejected) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = Tensor::zeros({2, 3}, DType::kFloat32, kGpu);
  const Tensor w = Tensor::zeros({4, 3});
  EXPECT_THROW(linear_forward(x, w, nullptr), ValueError);
  EXPECT_THROW(linear_forward(x, w.to(kGpu), nullptr, GemmBackend::kReference), ValueError);
  Tensor db = Tensor::zeros({3});
  EXPECT_THROW(bias_grad(x, db), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
