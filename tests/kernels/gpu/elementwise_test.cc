// Element-wise arithmetic on the GPU against the CPU reference: exact on small integers, close on
// random data, odd sizes, poisoned outputs.
#include "kernels/elementwise.h"

#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;

const Device kGpu = Device::cuda(0);

const std::vector<Shape> kShapes{{1}, {3, 13}, {2, 3, 13, 13}, {1000, 1001}};

TEST(ElementwiseGpu, BinaryOpsMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      for (const bool ints : {true, false}) {
        const Tensor a =
            ints ? testing::small_int_tensor(shape, dt, 1) : testing::random_tensor(shape, dt, 1);
        const Tensor b =
            ints ? testing::small_int_tensor(shape, dt, 2) : testing::random_tensor(shape, dt, 2);
        const Tensor ag = a.to(kGpu), bg = b.to(kGpu);
        for (const BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul}) {
          Tensor out = poisoned(shape, dt);
          cuda::binary(ag.data_ptr(), bg.data_ptr(), out.data_ptr(), a.numel(), op, dt, stream);
          // Single roundings of the same operands: equal bits on both devices.
          EXPECT_TRUE(all_equal(out, binary(a, b, op))) << shape_str(shape) << " " << dt;
        }
      }
    }
  }
}

TEST(ElementwiseGpu, ScalarOpsAndAxpyMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      const Tensor x = testing::random_tensor(shape, dt, 3);
      const Tensor y = testing::random_tensor(shape, dt, 4);
      const Tensor xg = x.to(kGpu);
      Tensor out = poisoned(shape, dt);
      cuda::affine(xg.data_ptr(), out.data_ptr(), x.numel(), -1.75, 0.3, dt, stream);
      Tensor ref = add_scalar(scale(x, -1.75), 0.3);
      EXPECT_TRUE(all_close(out, ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_equal(scale(xg, 0.37), scale(x, 0.37)));
      EXPECT_TRUE(all_equal(add_scalar(xg, -2.5), add_scalar(x, -2.5)));
      Tensor yg = y.to(kGpu).clone(), y_ref = y.clone();
      axpy(0.3, xg, yg);
      axpy(0.3, x, y_ref);
      EXPECT_TRUE(all_equal(yg, y_ref)) << shape_str(shape) << " " << dt;
      scale_(yg, -3);
      scale_(y_ref, -3);
      EXPECT_TRUE(all_equal(yg, y_ref)) << shape_str(shape) << " " << dt;
    }
  }
}

}  // namespace
}  // namespace cudanet::kernels
