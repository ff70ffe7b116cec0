// Reductions on the GPU against the CPU reference: sizes around the block and partial-buffer
// boundaries, ties, NaN, poisoned outputs, two runs bitwise equal.
#include "kernels/reduce.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

TEST(ReduceGpu, WholeTensorReductionsMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const std::int64_t n : {1, 3, 255, 256, 257, 169 * 3, 262145, 3000017}) {
      const Tensor x = random_tensor({n}, dt, static_cast<std::uint64_t>(n), -1, 1);
      const Tensor xg = x.to(kGpu);
      Tensor sum = poisoned({}, dt), value = poisoned({}, dt);
      Tensor index = poisoned({}, DType::kInt64);
      cuda::sum_all(xg.data_ptr(), n, 1.0, sum.data_ptr(), dt, stream);
      cuda::argmax_all(xg.data_ptr(), n, value.data_ptr(), index.data<std::int64_t>(), dt, stream);
      const Tensor sum_ref = sum_all(x);
      // Sums in double in different orders: equal up to the final rounding.
      EXPECT_TRUE(all_close(sum, sum_ref)) << n << " " << dt;
      EXPECT_TRUE(all_equal(value, max_all(x))) << n << " " << dt;
      EXPECT_TRUE(all_equal(index, argmax_all(x))) << n << " " << dt;
      EXPECT_TRUE(all_close(mean_all(xg), mean_all(x))) << n << " " << dt;
    }
  }
}

TEST(ReduceGpu, ArgmaxTiesAndNan) {
  CUDANET_REQUIRE_GPU();
  std::vector<float> v(100000, 1.0f);
  v[70000] = 3.0f;
  v[99999] = 3.0f;
  v[5000] = 3.0f;
  const Tensor x = Tensor::from_vector(v, {100000});
  EXPECT_EQ(argmax_all(x.to(kGpu)).item(), 5000);
  v[80000] = std::numeric_limits<float>::quiet_NaN();
  v[90000] = std::numeric_limits<float>::quiet_NaN();
  const Tensor xn = Tensor::from_vector(v, {100000}).to(kGpu);
  EXPECT_EQ(argmax_all(xn).item(), 80000);
  EXPECT_TRUE(std::isnan(max_all(xn).item()));
}

TEST(ReduceGpu, RowAndColumnReductionsMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape :
         {Shape{1, 1}, Shape{1, 3}, Shape{128, 10}, Shape{7, 1000}, Shape{3000, 13}}) {
      const Tensor x = random_tensor(shape, dt, 7, -1, 1);
      const Tensor xg = x.to(kGpu);
      Tensor cols = poisoned({shape[1]}, dt), rows = poisoned({shape[0]}, DType::kInt64);
      cuda::sum_dim0(xg.data_ptr(), cols.data_ptr(), shape[0], shape[1], dt, stream);
      cuda::argmax_dim1(xg.data_ptr(), rows.data<std::int64_t>(), shape[0], shape[1], dt, stream);
      EXPECT_TRUE(all_equal(cols, sum_dim0(x))) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_equal(rows, argmax_dim1(x))) << shape_str(shape) << " " << dt;
      // Small integers: ties everywhere, first index wins.
      const Tensor ints = testing::small_int_tensor(shape, dt, 8, -1, 1);
      EXPECT_TRUE(all_equal(argmax_dim1(ints.to(kGpu)), argmax_dim1(ints)));
    }
  }
}

TEST(ReduceGpu, TwoRunsAreBitwiseEqual) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = random_tensor({4096, 1025}, DType::kFloat32, 9, -1, 1, kGpu);
  EXPECT_TRUE(all_equal(sum_all(x), sum_all(x)));
  EXPECT_TRUE(all_equal(mean_all(x), mean_all(x)));
  EXPECT_TRUE(all_equal(sum_dim0(x), sum_dim0(x)));
}

}  // namespace
}  // namespace cudanet::kernels
