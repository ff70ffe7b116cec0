// Element-wise arithmetic on the CPU: known values, in-place forms, argument checks.
#include "kernels/elementwise.h"

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

Tensor make(const std::vector<double>& v, const Shape& shape, DType dt) {
  if (dt == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

using V = std::vector<double>;

class ElementwiseDTypes : public ::testing::TestWithParam<DType> {};

TEST_P(ElementwiseDTypes, KnownValues) {
  const DType dt = GetParam();
  const Tensor a = make({1, -2, 3.5, 0, 4, -0.25}, {2, 3}, dt);
  const Tensor b = make({2, 2, -1, 5, 0.5, -4}, {2, 3}, dt);
  EXPECT_EQ(testing::as_doubles(add(a, b)), (V{3, 0, 2.5, 5, 4.5, -4.25}));
  EXPECT_EQ(testing::as_doubles(sub(a, b)), (V{-1, -4, 4.5, -5, 3.5, 3.75}));
  EXPECT_EQ(testing::as_doubles(mul(a, b)), (V{2, -4, -3.5, 0, 2, 1}));
  EXPECT_EQ(testing::as_doubles(scale(a, -2)), (V{-2, 4, -7, 0, -8, 0.5}));
  EXPECT_EQ(testing::as_doubles(add_scalar(a, 1.5)), (V{2.5, -0.5, 5, 1.5, 5.5, 1.25}));
  EXPECT_EQ(add(a, b).shape(), (Shape{2, 3}));

  Tensor y = b.clone();
  axpy(0.5, a, y);  // y = b + a / 2
  EXPECT_EQ(testing::as_doubles(y), (V{2.5, 1, 0.75, 5, 2.5, -4.125}));
  scale_(y, 2);
  EXPECT_EQ(testing::as_doubles(y), (V{5, 2, 1.5, 10, 5, -8.25}));
  axpy(-1, y, y);  // aliasing x and y: y - y
  EXPECT_EQ(testing::as_doubles(y), (V(6, 0.0)));
}

INSTANTIATE_TEST_SUITE_P(Float, ElementwiseDTypes,
                         ::testing::Values(DType::kFloat32, DType::kFloat64));

TEST(Elementwise, EmptyTensorsAreFine) {
  const Tensor e = Tensor::zeros({0, 3});
  EXPECT_EQ(add(e, e).shape(), (Shape{0, 3}));
  Tensor y = e.clone();
  axpy(2, e, y);
  scale_(y, 3);
}

TEST(Elementwise, RejectsBadArguments) {
  const Tensor a = Tensor::zeros({2, 3});
  EXPECT_THROW(add(a, Tensor::zeros({3, 2})), ShapeError);
  EXPECT_THROW(mul(a, Tensor::zeros({2, 3}, DType::kFloat64)), ValueError);
  EXPECT_THROW(sub(Tensor::zeros({2, 3}, DType::kInt64), Tensor::zeros({2, 3}, DType::kInt64)),
               ValueError);
  Tensor y = Tensor::zeros({6});
  EXPECT_THROW(axpy(1, a, y), ShapeError);
  EXPECT_THROW(scale(a, std::nan("")), ValueError);
  EXPECT_THROW(add_scalar(a, INFINITY), ValueError);
  const Tensor strided = a.narrow(1, 0, 2);  // [2, 2], not contiguous
  EXPECT_THROW(add(strided, strided), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
