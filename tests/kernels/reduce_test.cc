// Reductions on the CPU: known values, ties and NaN, row and column forms, argument checks.
#include "kernels/reduce.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

Tensor make(const std::vector<double>& v, const Shape& shape, DType dt) {
  if (dt == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

class ReduceDTypes : public ::testing::TestWithParam<DType> {};

TEST_P(ReduceDTypes, KnownValues) {
  const DType dt = GetParam();
  const Tensor x = make({1, -2, 7, 0.5, 7, -3}, {2, 3}, dt);
  const Tensor s = sum_all(x);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.dtype(), dt);
  EXPECT_EQ(s.item(), 10.5);
  EXPECT_EQ(mean_all(x).item(), 1.75);
  EXPECT_EQ(max_all(x).item(), 7);
  const Tensor am = argmax_all(x);
  EXPECT_EQ(am.dtype(), DType::kInt64);
  EXPECT_EQ(am.item(), 2);  // the first of the two 7s
  EXPECT_EQ(testing::as_doubles(sum_dim0(x)), (std::vector<double>{1.5, 5, 4}));
  EXPECT_EQ(argmax_dim1(x).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 1}));
}

INSTANTIATE_TEST_SUITE_P(Float, ReduceDTypes, ::testing::Values(DType::kFloat32, DType::kFloat64));

TEST(Reduce, NanPropagatesAndAllEqualPicksTheFirst) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = make({1, nan, 5, nan}, {4}, DType::kFloat32);
  EXPECT_TRUE(std::isnan(max_all(x).item()));
  EXPECT_EQ(argmax_all(x).item(), 1);
  EXPECT_TRUE(std::isnan(sum_all(x).item()));
  const Tensor same = Tensor::full({3, 4}, -2.0);
  EXPECT_EQ(argmax_all(same).item(), 0);
  EXPECT_EQ(argmax_dim1(same).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 0}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(argmax_all(make({-inf, -inf}, {2}, DType::kFloat64)).item(), 0);
}

TEST(Reduce, SumAccumulatesInDouble) {
  // 2^24 + 1 + 1 + ... is not representable step by step in float32 sums.
  std::vector<float> v(1001, 1.0f);
  v[0] = 16777216.0f;
  const Tensor x = Tensor::from_vector(v, {1001});
  EXPECT_EQ(sum_all(x).item(), 16777216.0 + 1000);
  EXPECT_EQ(sum_all(Tensor::zeros({0})).item(), 0.0);
}

TEST(Reduce, RejectsBadArguments) {
  EXPECT_THROW(mean_all(Tensor::zeros({0})), ValueError);
  EXPECT_THROW(max_all(Tensor::zeros({2, 0})), ValueError);
  EXPECT_THROW(argmax_all(Tensor::zeros({3}, DType::kInt32)), ValueError);
  EXPECT_THROW(sum_dim0(Tensor::zeros({3})), ShapeError);
  EXPECT_THROW(argmax_dim1(Tensor::zeros({2, 3, 4})), ShapeError);
  EXPECT_THROW(argmax_dim1(Tensor::zeros({2, 0})), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
