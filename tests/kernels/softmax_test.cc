// Softmax, log-softmax and softmax-cross-entropy on the CPU: hand-computed values, extreme logits,
// finite-difference gradients and argument checks.
#include "kernels/softmax.h"

#include <cmath>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::check_gradient;
using testing::random_tensor;

Tensor matrix(const std::vector<double>& v, std::int64_t rows, std::int64_t cols,
              DType dtype = DType::kFloat64) {
  if (dtype == DType::kFloat64) return Tensor::from_vector(v, {rows, cols});
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), {rows, cols});
}

Tensor labels_of(const std::vector<std::int64_t>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())});
}

class SoftmaxDTypes : public ::testing::TestWithParam<DType> {};

TEST_P(SoftmaxDTypes, KnownValuesOfOneTwoThree) {
  const DType dt = GetParam();
  const Tensor x = matrix({1, 2, 3}, 1, 3, dt);
  EXPECT_TRUE(
      all_close(softmax_forward(x),
                matrix({0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, 1, 3, dt)));
  EXPECT_TRUE(
      all_close(log_softmax_forward(x),
                matrix({-2.40760596444438, -1.40760596444438, -0.40760596444438}, 1, 3, dt)));
}

TEST_P(SoftmaxDTypes, RowsSumToOneAndShiftDoesNotMatter) {
  const DType dt = GetParam();
  const Tensor x = random_tensor({5, 7}, dt, 11, -3, 3);
  const std::vector<double> y = testing::as_doubles(softmax_forward(x));
  for (int n = 0; n < 5; ++n) {
    double s = 0;
    for (int c = 0; c < 7; ++c) s += y[n * 7 + c];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  std::vector<double> shifted = testing::as_doubles(x);
  for (double& v : shifted) v += 100;
  EXPECT_TRUE(all_close(softmax_forward(matrix(shifted, 5, 7, dt)), softmax_forward(x),
                        {1e-6, 1e-4, 1e-5}));
}

TEST_P(SoftmaxDTypes, ExtremeLogitsStayFinite) {
  const DType dt = GetParam();
  const Tensor x = matrix({1e4, -1e4, 0, -1e4, -1e4, -1e4, 1e4, 1e4, 1e4}, 3, 3, dt);
  EXPECT_TRUE(
      all_close(softmax_forward(x),
                matrix({1, 0, 0, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3}, 3, 3, dt)));
  const double l3 = std::log(3.0);
  EXPECT_TRUE(all_close(log_softmax_forward(x),
                        matrix({0, -2e4, -1e4, -l3, -l3, -l3, -l3, -l3, -l3}, 3, 3, dt)));
  // Cross-entropy: row 0 labelled with its huge logit (loss 0) and with its tiny one (loss 2e4).
  const double loss0 = softmax_cross_entropy_forward(x, labels_of({0, 2, 1})).item();
  EXPECT_NEAR(loss0, (0 + l3 + l3) / 3, 1e-5);
  const double loss1 = softmax_cross_entropy_forward(x, labels_of({1, 0, 0})).item();
  EXPECT_NEAR(loss1, (2e4 + l3 + l3) / 3, 1e-2);
}

TEST_P(SoftmaxDTypes, CrossEntropyOfATwoSampleBatch) {
  const DType dt = GetParam();
  // Row 0 = [1, 2, 3], label 2: -log softmax = 0.40760596; row 1 = [0, 0, 0], label 1: log 3.
  const Tensor logits = matrix({1, 2, 3, 0, 0, 0}, 2, 3, dt);
  const Tensor labels = labels_of({2, 1});
  Tensor probs;
  const Tensor loss = softmax_cross_entropy_forward(logits, labels, &probs);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_EQ(loss.dtype(), dt);
  EXPECT_NEAR(loss.item(), 0.753109126556245, dt == DType::kFloat64 ? 1e-12 : 1e-6);
  EXPECT_TRUE(all_close(probs, softmax_forward(logits)));
  // (p - onehot) / 2, scaled by 3.
  const std::vector<double> p = testing::as_doubles(probs);
  std::vector<double> expected(6);
  for (int i = 0; i < 6; ++i) expected[i] = 1.5 * (p[i] - (i == 2 || i == 4 ? 1 : 0));
  EXPECT_TRUE(
      all_close(softmax_cross_entropy_backward(probs, labels, 3.0), matrix(expected, 2, 3, dt)));
  EXPECT_TRUE(all_close(softmax_cross_entropy_backward(logits, labels, 3.0, /*from_logits=*/true),
                        matrix(expected, 2, 3, dt)));
}

INSTANTIATE_TEST_SUITE_P(Float, SoftmaxDTypes, ::testing::Values(DType::kFloat32, DType::kFloat64));

TEST(SoftmaxGradient, SoftmaxAndLogSoftmaxMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{1, 1}, Shape{1, 5}, Shape{3, 4}, Shape{4, 13}}) {
    const Tensor x = random_tensor(shape, DType::kFloat64, 1, -2, 2);
    const Tensor dy = random_tensor(shape, DType::kFloat64, 2);
    EXPECT_TRUE(check_gradient(softmax_forward, x, dy, softmax_backward(softmax_forward(x), dy)))
        << shape_str(shape);
    EXPECT_TRUE(check_gradient(log_softmax_forward, x, dy,
                               log_softmax_backward(log_softmax_forward(x), dy)))
        << shape_str(shape);
  }
}

TEST(SoftmaxGradient, CrossEntropyMatchesFiniteDifferences) {
  const Tensor x = random_tensor({5, 4}, DType::kFloat64, 3, -3, 3);
  const Tensor labels = labels_of({0, 3, 1, 1, 2});
  const Tensor dy = Tensor::full({}, 0.7, DType::kFloat64);
  const auto loss = [&](const Tensor& xi) { return softmax_cross_entropy_forward(xi, labels); };
  Tensor probs;
  softmax_cross_entropy_forward(x, labels, &probs);
  EXPECT_TRUE(check_gradient(loss, x, dy, softmax_cross_entropy_backward(probs, labels, 0.7)));
  EXPECT_TRUE(check_gradient(loss, x, dy, softmax_cross_entropy_backward(x, labels, 0.7, true)));
}

TEST(SoftmaxArguments, RejectsBadShapesDtypesAndLabels) {
  const Tensor x = random_tensor({2, 3}, DType::kFloat32, 4);
  EXPECT_THROW(softmax_forward(random_tensor({6}, DType::kFloat32, 4)), ShapeError);
  EXPECT_THROW(softmax_forward(Tensor::zeros({2, 3}, DType::kInt32)), ValueError);
  EXPECT_THROW(softmax_forward(Tensor::zeros({2, 0})), ValueError);
  EXPECT_THROW(softmax_backward(softmax_forward(x), random_tensor({3, 2}, DType::kFloat32, 5)),
               ShapeError);
  EXPECT_THROW(softmax_backward(softmax_forward(x), random_tensor({2, 3}, DType::kFloat64, 5)),
               ValueError);
  EXPECT_THROW(softmax_cross_entropy_forward(x, labels_of({0})), ShapeError);
  EXPECT_THROW(softmax_cross_entropy_forward(x, Tensor::zeros({2}, DType::kInt32)), ValueError);
  EXPECT_THROW(softmax_cross_entropy_backward(x, labels_of({0, -1})), ValueError);
  try {
    softmax_cross_entropy_forward(x, labels_of({1, 3}));
    ADD_FAILURE() << "label 3 of 3 classes was accepted";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("softmax_cross_entropy_forward"), std::string::npos) << msg;
    EXPECT_NE(msg.find("label 3 at index 1"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace cudanet::kernels
