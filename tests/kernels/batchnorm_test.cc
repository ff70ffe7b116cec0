// Batch normalisation on the CPU: hand-computed statistics and running updates, inference,
// finite-difference gradients of dx, dgamma and dbeta, argument checks.
#include "kernels/batchnorm.h"

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::check_gradient;
using testing::random_tensor;

Tensor make(const std::vector<double>& v, const Shape& shape, DType dt = DType::kFloat64) {
  if (dt == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

TEST(BatchNorm, KnownValuesTwoDimensional) {
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    // Channel 0 = [1, 2, 3, 4]: mean 2.5, biased var 1.25, unbiased 5/3.
    // Channel 1 = [0, 0, 2, 2]: mean 1, biased var 1, unbiased 4/3.
    const Tensor x = make({1, 0, 2, 0, 3, 2, 4, 2}, {4, 2}, dt);
    const Tensor gamma = make({2, 1}, {2}, dt);
    const Tensor beta = make({0.5, -1}, {2}, dt);
    Tensor rm = make({0, 1}, {2}, dt);
    Tensor rv = make({1, 1}, {2}, dt);
    Tensor mean, inv_std;
    const BatchNormParams p{1e-5, 0.1};
    const Tensor y = batchnorm_forward_training(x, gamma, beta, &rm, &rv, p, &mean, &inv_std);
    const double s0 = 1 / std::sqrt(1.25 + 1e-5), s1 = 1 / std::sqrt(1 + 1e-5);
    EXPECT_TRUE(all_close(y, make({2 * -1.5 * s0 + 0.5, -s1 - 1, 2 * -0.5 * s0 + 0.5, -s1 - 1,
                                   2 * 0.5 * s0 + 0.5, s1 - 1, 2 * 1.5 * s0 + 0.5, s1 - 1},
                                  {4, 2}, dt)));
    EXPECT_TRUE(all_close(mean, make({2.5, 1}, {2}, dt)));
    EXPECT_TRUE(all_close(inv_std, make({s0, s1}, {2}, dt)));
    EXPECT_TRUE(all_close(rm, make({0.25, 0.9 + 0.1}, {2}, dt)));
    EXPECT_TRUE(all_close(rv, make({0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 4 / 3}, {2}, dt)));

    // Inference from the running statistics.
    const Tensor yi = batchnorm_forward_inference(x, gamma, beta, rm, rv, p);
    const std::vector<double> r = testing::as_doubles(rm), v = testing::as_doubles(rv);
    const std::vector<double> xs = testing::as_doubles(x);
    std::vector<double> expected(8);
    const double g[2] = {2, 1}, b[2] = {0.5, -1};
    for (int i = 0; i < 8; ++i) {
      const int c = i % 2;
      expected[i] = g[c] * (xs[i] - r[c]) / std::sqrt(v[c] + 1e-5) + b[c];
    }
    EXPECT_TRUE(all_close(yi, make(expected, {4, 2}, dt)));
  }
}

TEST(BatchNorm, FourDimensionalNormalisesEachChannel) {
  const Tensor x = random_tensor({3, 4, 5, 2}, DType::kFloat64, 7, -2, 3);
  const Tensor gamma = Tensor::full({4}, 1.0, DType::kFloat64);
  const Tensor beta = Tensor::zeros({4}, DType::kFloat64);
  const Tensor y =
      batchnorm_forward_training(x, gamma, beta, nullptr, nullptr, {}, nullptr, nullptr);
  const std::vector<double> v = testing::as_doubles(y);
  for (int c = 0; c < 4; ++c) {
    double s = 0, sq = 0;
    for (int n = 0; n < 3; ++n) {
      for (int k = 0; k < 10; ++k) {
        const double e = v[(n * 4 + c) * 10 + k];
        s += e;
        sq += e * e;
      }
    }
    EXPECT_NEAR(s / 30, 0, 1e-12);
    EXPECT_NEAR(sq / 30, 1, 1e-4);  // var / (var + eps)
  }
}

// dx, dgamma and dbeta of the training forward against central differences.
void check_batchnorm_gradients(const Shape& shape, std::uint64_t seed) {
  const std::int64_t c = shape[1];
  const Tensor x = random_tensor(shape, DType::kFloat64, seed, -2, 2);
  const Tensor gamma = random_tensor({c}, DType::kFloat64, seed + 1, 0.5, 1.5);
  const Tensor beta = random_tensor({c}, DType::kFloat64, seed + 2);
  const Tensor dy = random_tensor(shape, DType::kFloat64, seed + 3);
  const BatchNormParams p{1e-3, 0.1};
  Tensor mean, inv_std;
  batchnorm_forward_training(x, gamma, beta, nullptr, nullptr, p, &mean, &inv_std);
  const BatchNormGrads grads = batchnorm_backward(x, dy, gamma, mean, inv_std);
  const auto forward = [&](const Tensor& xi, const Tensor& gi, const Tensor& bi) {
    return batchnorm_forward_training(xi, gi, bi, nullptr, nullptr, p, nullptr, nullptr);
  };
  EXPECT_TRUE(
      check_gradient([&](const Tensor& xi) { return forward(xi, gamma, beta); }, x, dy, grads.dx))
      << "dx " << shape_str(shape);
  EXPECT_TRUE(check_gradient([&](const Tensor& gi) { return forward(x, gi, beta); }, gamma, dy,
                             grads.dgamma))
      << "dgamma " << shape_str(shape);
  EXPECT_TRUE(check_gradient([&](const Tensor& bi) { return forward(x, gamma, bi); }, beta, dy,
                             grads.dbeta))
      << "dbeta " << shape_str(shape);
}

TEST(BatchNormGradient, MatchesFiniteDifferences) {
  check_batchnorm_gradients({5, 3}, 10);
  check_batchnorm_gradients({2, 3, 3, 2}, 20);
  check_batchnorm_gradients({1, 2, 3, 3}, 30);  // batch 1: statistics over H, W only
}

TEST(BatchNorm, RunningStatisticsAreOptionalAndMomentumOneReplacesThem) {
  const Tensor x = random_tensor({6, 3}, DType::kFloat64, 40);
  const Tensor gamma = Tensor::full({3}, 1.0, DType::kFloat64);
  const Tensor beta = Tensor::zeros({3}, DType::kFloat64);
  Tensor rm = Tensor::full({3}, 5.0, DType::kFloat64), rv = Tensor::full({3}, 5.0, DType::kFloat64);
  Tensor mean, inv_std;
  batchnorm_forward_training(x, gamma, beta, &rm, &rv, {1e-5, 1.0}, &mean, &inv_std);
  EXPECT_TRUE(all_close(rm, mean));
  const std::vector<double> is = testing::as_doubles(inv_std), v = testing::as_doubles(rv);
  for (int c = 0; c < 3; ++c) {
    const double biased = 1 / (is[c] * is[c]) - 1e-5;
    EXPECT_NEAR(v[c], biased * 6 / 5, 1e-9);
  }
}

TEST(BatchNorm, RejectsBadArguments) {
  const Tensor x = random_tensor({4, 3, 2, 2}, DType::kFloat32, 50);
  const Tensor g = Tensor::full({3}, 1.0), b = Tensor::zeros({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0);
  EXPECT_THROW(batchnorm_forward_training(random_tensor({4, 3, 2}, DType::kFloat32, 1), g, b,
                                          nullptr, nullptr, {}, nullptr, nullptr),
               ShapeError);
  EXPECT_THROW(batchnorm_forward_training(x, Tensor::full({4}, 1.0), b, nullptr, nullptr, {},
                                          nullptr, nullptr),
               ShapeError);
  EXPECT_THROW(batchnorm_forward_training(x, g, Tensor::zeros({3}, DType::kFloat64), nullptr,
                                          nullptr, {}, nullptr, nullptr),
               ValueError);
  EXPECT_THROW(batchnorm_forward_training(x, g, b, &rm, nullptr, {}, nullptr, nullptr), ValueError);
  EXPECT_THROW(batchnorm_forward_training(x, g, b, nullptr, nullptr, {0.0, 0.1}, nullptr, nullptr),
               ValueError);
  EXPECT_THROW(batchnorm_forward_training(x, g, b, nullptr, nullptr, {1e-5, 1.5}, nullptr, nullptr),
               ValueError);
  EXPECT_THROW(batchnorm_forward_training(random_tensor({1, 3}, DType::kFloat32, 2), g, b, nullptr,
                                          nullptr, {}, nullptr, nullptr),
               ValueError);  // one value per channel
  EXPECT_THROW(batchnorm_forward_inference(x, g, b, rm, Tensor::full({2}, 1.0), {}), ShapeError);
  EXPECT_THROW(batchnorm_backward(x, random_tensor({4, 3, 2, 1}, DType::kFloat32, 3), g, rm, rv),
               ShapeError);
}

}  // namespace
}  // namespace cudanet::kernels
