// Mean-squared error on the CPU: hand-computed values, finite-difference gradient, argument checks.
#include "kernels/mse.h"

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::random_tensor;

Tensor make(const std::vector<double>& v, const Shape& shape, DType dt) {
  if (dt == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

TEST(Mse, KnownValues) {
  // d = [1, -2, 0.5, 0]: sum d^2 = 5.25, mean 1.3125; dx = 2 d / 4 = d / 2.
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    const Tensor xd = make({2, 0, 1.5, -1}, {2, 2}, dt);
    const Tensor td = make({1, 2, 1, -1}, {2, 2}, dt);
    const Tensor loss = mse_forward(xd, td);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_EQ(loss.item(), 1.3125);  // exact in binary
    const Tensor dx = mse_backward(xd, td, 2.0);
    EXPECT_EQ(testing::as_doubles(dx), (std::vector<double>{1, -2, 0.5, 0}));
  }
}

TEST(Mse, GradientMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape{1}, Shape{3, 5}, Shape{2, 3, 4}}) {
    const Tensor x = random_tensor(shape, DType::kFloat64, 1);
    const Tensor t = random_tensor(shape, DType::kFloat64, 2);
    const Tensor dy = Tensor::full({}, -1.3, DType::kFloat64);
    EXPECT_TRUE(testing::check_gradient([&](const Tensor& xi) { return mse_forward(xi, t); }, x, dy,
                                        mse_backward(x, t, -1.3)))
        << shape_str(shape);
  }
}

TEST(Mse, IdenticalInputsGiveZero) {
  const Tensor x = random_tensor({4, 4}, DType::kFloat32, 3);
  EXPECT_EQ(mse_forward(x, x).item(), 0.0);
  EXPECT_TRUE(all_close(mse_backward(x, x), Tensor::zeros({4, 4})));
}

TEST(Mse, RejectsBadArguments) {
  const Tensor x = random_tensor({2, 3}, DType::kFloat32, 4);
  EXPECT_THROW(mse_forward(x, random_tensor({3, 2}, DType::kFloat32, 5)), ShapeError);
  EXPECT_THROW(mse_forward(x, random_tensor({2, 3}, DType::kFloat64, 5)), ValueError);
  EXPECT_THROW(mse_forward(Tensor::zeros({0, 3}), Tensor::zeros({0, 3})), ValueError);
  EXPECT_THROW(mse_backward(x, x, std::nan("")), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
