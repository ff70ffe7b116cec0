// Fused optimizer updates on the CPU: steps computed by hand from PyTorch's formulas (see
// kernels/optimizer.h), every flag both ways, argument checks.
#include "kernels/optimizer.h"

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;

Tensor make(const std::vector<double>& v, DType dt = DType::kFloat64) {
  const Shape shape{static_cast<std::int64_t>(v.size())};
  if (dt == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

// param [1, -2, 0, 0.5], grad [0.5, 0.25, -1, 0]; sign(0) = 0.
const std::vector<double> kParam{1, -2, 0, 0.5};
const std::vector<double> kGrad{0.5, 0.25, -1, 0};

class OptimizerDTypes : public ::testing::TestWithParam<DType> {};

TEST_P(OptimizerDTypes, SgdMomentumTwoSteps) {
  const DType dt = GetParam();
  // Step 1, element 0: g = 0.5 + 0.01 * 1 + 0.001 * 1 = 0.511, buf = 0.511, w = 1 - 0.0511.
  // Element 2 (w = 0): g = -1, buf = -1, w = 0.1. Element 3: g = 0.005 + 0.001 = 0.006.
  Tensor w = make(kParam, dt), buf = Tensor::zeros({4}, dt);
  const Tensor g = make(kGrad, dt);
  const SgdParams p{0.1, 0.9, false, 0.01, 0.001};
  sgd_update(w, g, &buf, p);
  EXPECT_TRUE(all_close(w, make({0.9489, -2.0229, 0.1, 0.4994}, dt)));
  EXPECT_TRUE(all_close(buf, make({0.511, 0.229, -1, 0.006}, dt)));
  sgd_update(w, g, &buf, p);
  EXPECT_TRUE(all_close(w, make({0.8518611, -2.0663871, 0.2898, 0.4982606}, dt)));
  EXPECT_TRUE(all_close(buf, make({0.970389, 0.434871, -1.898, 0.011394}, dt)));
}

TEST_P(OptimizerDTypes, SgdNesterovTwoSteps) {
  const DType dt = GetParam();
  // Step 1, element 0: g = 0.511, buf = 0.511, g + 0.9 buf = 0.9709, w = 1 - 0.09709.
  Tensor w = make(kParam, dt), buf = Tensor::zeros({4}, dt);
  const Tensor g = make(kGrad, dt);
  const SgdParams p{0.1, 0.9, true, 0.01, 0.001};
  sgd_update(w, g, &buf, p);
  EXPECT_TRUE(all_close(w, make({0.90291, -2.04351, 0.19, 0.49886}, dt)));
  sgd_update(w, g, &buf, p);
  EXPECT_TRUE(all_close(w, make({0.764613471, -2.105486331, 0.460449, 0.497236166}, dt)));
  EXPECT_TRUE(all_close(buf, make({0.9699291, 0.4346649, -1.8971, 0.0113886}, dt)));
}

TEST_P(OptimizerDTypes, PlainSgdNeedsNoBuffer) {
  const DType dt = GetParam();
  Tensor w = make(kParam, dt);
  sgd_update(w, make(kGrad, dt), nullptr, SgdParams{0.5, 0, false, 0, 0});
  EXPECT_TRUE(all_close(w, make({0.75, -2.125, 0.5, 0.5}, dt)));
}

TEST_P(OptimizerDTypes, AdamAndAdamWTwoSteps) {
  const DType dt = GetParam();
  const Tensor g = make(kGrad, dt);
  // Step 1 with m = v = 0: m / (1 - b1) = g, sqrt(v / (1 - b2)) = |g|, so
  // w -= lr * g / (|g| + eps); Adam's g includes 0.1 * w (element 0: g = 0.6, w = 1 - 0.01).
  // AdamW first scales w by 1 - 0.01 * 0.1 (element 3: g = 0, w = 0.5 * 0.999).
  for (const bool decoupled : {false, true}) {
    Tensor w = make(kParam, dt), m = Tensor::zeros({4}, dt), v = Tensor::zeros({4}, dt);
    const AdamParams p{0.01, 0.9, 0.999, 1e-8, 0.1, decoupled};
    adam_update(w, g, m, v, p, 1);
    const Tensor step1 = decoupled ? make({0.9890000002, -2.0079999996, 0.0099999999, 0.4995}, dt)
                                   : make({0.9900000001666667, -2.0099999980000005,
                                           0.009999999900000002, 0.4900000019999996},
                                          dt);
    EXPECT_TRUE(all_close(w, step1)) << "decoupled " << decoupled;
    adam_update(w, g, m, v, p, 2);
    const Tensor step2 =
        decoupled
            ? make({0.9780110003998002, -2.0159919992004, 0.019989999800099932, 0.4990005}, dt)
            : make({0.9800004386015699, -2.0199942203155308, 0.019999737761633874,
                    0.48000577968446917},
                   dt);
    EXPECT_TRUE(all_close(w, step2)) << "decoupled " << decoupled;
  }
}

INSTANTIATE_TEST_SUITE_P(Float, OptimizerDTypes,
                         ::testing::Values(DType::kFloat32, DType::kFloat64));

TEST(Optimizer, AdamCoefficientsFollowTheStep) {
  const AdamCoefficients c = adam_coefficients({0.1, 0.5, 0.75, 1e-8, 0.2, true}, 2);
  EXPECT_DOUBLE_EQ(c.step_size, 0.1 / 0.75);                     // 1 - 0.5^2
  EXPECT_DOUBLE_EQ(c.sqrt_bias_correction2, std::sqrt(0.4375));  // 1 - 0.75^2
  EXPECT_DOUBLE_EQ(c.decay, 1 - 0.1 * 0.2);
  EXPECT_EQ(c.weight_decay, 0.0);
}

TEST(Optimizer, RejectsBadArguments) {
  Tensor w = Tensor::zeros({4}), g = Tensor::zeros({4}), buf = Tensor::zeros({4});
  Tensor m = Tensor::zeros({4}), v = Tensor::zeros({4});
  EXPECT_THROW(sgd_update(w, g, &buf, {-0.1, 0.9, false, 0, 0}), ValueError);
  EXPECT_THROW(sgd_update(w, g, &buf, {0.1, 0, true, 0, 0}), ValueError);  // nesterov, no momentum
  EXPECT_THROW(sgd_update(w, g, nullptr, {0.1, 0.9, false, 0, 0}), ValueError);
  EXPECT_THROW(sgd_update(w, g, &buf, {0.1, -0.5, false, 0, 0}), ValueError);
  EXPECT_THROW(sgd_update(w, g, &buf, {0.1, 0.9, false, -1, 0}), ValueError);
  EXPECT_THROW(sgd_update(w, g, &buf, {0.1, 0.9, false, 0, -1}), ValueError);
  EXPECT_THROW(sgd_update(w, Tensor::zeros({5}), &buf, {}), ShapeError);
  Tensor buf64 = Tensor::zeros({4}, DType::kFloat64);
  EXPECT_THROW(sgd_update(w, g, &buf64, {0.1, 0.9, false, 0, 0}), ValueError);
  EXPECT_THROW(adam_update(w, g, m, v, {}, 0), ValueError);
  EXPECT_THROW(adam_update(w, g, m, v, {0.1, 1.0, 0.999, 1e-8, 0, false}, 1), ValueError);
  EXPECT_THROW(adam_update(w, g, m, v, {0.1, 0.9, -0.1, 1e-8, 0, false}, 1), ValueError);
  EXPECT_THROW(adam_update(w, g, m, v, {0.1, 0.9, 0.999, 0, 0, false}, 1), ValueError);
  EXPECT_THROW(adam_update(w, g, m, v, {-1, 0.9, 0.999, 1e-8, 0, false}, 1), ValueError);
  Tensor short_v = Tensor::zeros({3});
  EXPECT_THROW(adam_update(w, g, m, short_v, {}, 1), ShapeError);
}

}  // namespace
}  // namespace cudanet::kernels
