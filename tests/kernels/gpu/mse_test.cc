// Mean-squared error on the GPU against the CPU reference: odd sizes, poisoned outputs, bitwise
// reproducible loss.
#include "kernels/mse.h"

#include <gtest/gtest.h>
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

TEST(MseGpu, ForwardAndBackwardMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  // 1 element, one partial block, several, and more elements than the 1024 partials cover.
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape :
         {Shape{1}, Shape{3, 13}, Shape{128, 10}, Shape{5, 3, 13, 13}, Shape{1000, 1001}}) {
      const Tensor x = random_tensor(shape, dt, 1);
      const Tensor t = random_tensor(shape, dt, 2);
      const Tensor xg = x.to(kGpu), tg = t.to(kGpu);
      const std::int64_t n = x.numel();
      Tensor loss = poisoned({}, dt), dx = poisoned(shape, dt);
      cuda::mse_forward(xg.data_ptr(), tg.data_ptr(), loss.data_ptr(), n, dt, stream);
      cuda::mse_backward(xg.data_ptr(), tg.data_ptr(), dx.data_ptr(), n, 0.75, dt, stream);
      EXPECT_TRUE(all_close(loss, mse_forward(x, t))) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(dx, mse_backward(x, t, 0.75))) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(mse_forward(xg, tg), mse_forward(x, t)));
    }
  }
}

TEST(MseGpu, LossIsBitwiseReproducible) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = random_tensor({777, 1313}, DType::kFloat32, 3, -1, 1, kGpu);
  const Tensor t = random_tensor({777, 1313}, DType::kFloat32, 4, -1, 1, kGpu);
  EXPECT_TRUE(all_equal(mse_forward(x, t), mse_forward(x, t)));
}

}  // namespace
}  // namespace cudanet::kernels
