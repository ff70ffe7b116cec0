// Local response normalisation on the CPU: hand-computed values, PyTorch's padding-and-average
// formulation as an independent oracle, finite-difference gradients, bad arguments.
#include "kernels/lrn.h"

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

// PyTorch's algorithm, literally: square, pad the channels with size/2 zeros before and
// (size-1)/2 after, average `size` consecutive squares, then x / (k + alpha * avg)^beta.
Tensor torch_style_lrn(const Tensor& x, const LrnParams& p) {
  const std::vector<double> v = testing::as_doubles(x);
  const std::int64_t n = x.size(0), c = x.size(1), inner = x.numel() / (n * c);
  const std::int64_t before = p.size / 2, after = (p.size - 1) / 2;
  std::vector<double> out(v.size());
  for (std::int64_t b = 0; b < n; ++b) {
    for (std::int64_t s = 0; s < inner; ++s) {
      std::vector<double> padded(static_cast<std::size_t>(before + c + after), 0.0);
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const double a = v[static_cast<std::size_t>((b * c + ch) * inner + s)];
        padded[static_cast<std::size_t>(before + ch)] = a * a;
      }
      for (std::int64_t ch = 0; ch < c; ++ch) {
        double sum = 0;
        for (std::int64_t t = 0; t < p.size; ++t) sum += padded[static_cast<std::size_t>(ch + t)];
        const std::size_t i = static_cast<std::size_t>((b * c + ch) * inner + s);
        out[i] = v[i] / std::pow(p.k + p.alpha * (sum / static_cast<double>(p.size)), p.beta);
      }
    }
  }
  return Tensor::from_vector(out, x.shape());
}

TEST(Lrn, HandComputedEvenWindow) {
  // size 2: channel c sees channels c-1 and c (PyTorch pads one zero before, none after).
  const Tensor x = Tensor::from_vector<double>({1, 2, 3}, {1, 3, 1});
  LrnParams p;
  p.size = 2;
  p.alpha = 1;
  p.beta = 1;
  p.k = 1;
  Tensor scale;
  const Tensor y = lrn_forward(x, p, &scale);
  // scale = 1 + (1/2) * {1, 1 + 4, 4 + 9}
  EXPECT_TRUE(all_close(scale, Tensor::from_vector<double>({1.5, 3.5, 7.5}, {1, 3, 1})));
  EXPECT_TRUE(all_close(y, Tensor::from_vector<double>({1 / 1.5, 2 / 3.5, 3 / 7.5}, {1, 3, 1})));
}

TEST(Lrn, HandComputedDefaults) {
  // Defaults: size 5, alpha 1e-4, beta 0.75, k 1; 6 channels at one position.
  const std::vector<double> a = {1, -2, 3, -4, 5, -6};
  const Tensor x = Tensor::from_vector(a, {1, 6, 1, 1});
  Tensor scale;
  const Tensor y = lrn_forward(x, LrnParams{}, &scale);
  // Windows [c-2, c+2] clipped: sums of squares 1+4+9, 1+4+9+16, 1+..+25, 4+..+36, 9+..+36,
  // 16+25+36.
  const std::vector<double> sums = {14, 30, 55, 90, 86, 77};
  std::vector<double> expected_scale, expected_y;
  for (std::size_t c = 0; c < a.size(); ++c) {
    expected_scale.push_back(1 + 1e-4 / 5 * sums[c]);
    expected_y.push_back(a[c] / std::pow(expected_scale.back(), 0.75));
  }
  EXPECT_TRUE(all_close(scale, Tensor::from_vector(expected_scale, {1, 6, 1, 1})));
  EXPECT_TRUE(all_close(y, Tensor::from_vector(expected_y, {1, 6, 1, 1})));
}

TEST(Lrn, MatchesPyTorchFormulation) {
  std::uint64_t seed = 30;
  for (std::int64_t size : {1, 2, 3, 4, 5, 9}) {
    for (const Shape& shape : {Shape{2, 7, 3, 4}, Shape{3, 5, 6}, Shape{1, 3, 2, 2, 2}}) {
      LrnParams p;
      p.size = size;
      p.alpha = 0.3;
      p.beta = 0.6;
      p.k = 1.5;
      const Tensor x = testing::random_tensor(shape, DType::kFloat64, seed++, -2, 2);
      EXPECT_TRUE(all_close(lrn_forward(x, p, nullptr), torch_style_lrn(x, p)))
          << "size " << size << " shape " << shape_str(shape);
      const Tensor x32 = testing::random_tensor(shape, DType::kFloat32, seed++, -2, 2);
      EXPECT_TRUE(all_close(lrn_forward(x32, p, nullptr), torch_style_lrn(x32, p),
                            testing::tolerance_for(DType::kFloat32)));
    }
  }
}

TEST(Lrn, GradientMatchesFiniteDifferences) {
  std::uint64_t seed = 40;
  struct Case {
    Shape shape;
    LrnParams p;
  };
  const std::vector<Case> cases = {{{2, 7, 3, 2}, {5, 0.1, 0.75, 1.0}},
                                   {{1, 6, 4}, {2, 0.5, 0.75, 2.0}},
                                   {{2, 4, 2, 3}, {4, 0.8, 1.3, 1.0}},
                                   {{1, 3, 5}, {1, 0.2, 0.5, 1.0}},
                                   {{1, 3, 2, 2}, {7, 0.4, 0.75, 1.0}}};
  for (const Case& c : cases) {
    const Tensor x = testing::random_tensor(c.shape, DType::kFloat64, seed++, -2, 2);
    Tensor scale;
    const Tensor y = lrn_forward(x, c.p, &scale);
    const Tensor dy = testing::random_tensor(c.shape, DType::kFloat64, seed++);
    const Tensor dx = lrn_backward(dy, x, y, scale, c.p);
    const auto f = [&](const Tensor& xi) { return lrn_forward(xi, c.p, nullptr); };
    EXPECT_TRUE(testing::check_gradient(f, x, dy, dx)) << "size " << c.p.size;
  }
}

// The memory plan's backward: without a saved scale, it is recomputed from x with the forward's
// code, and dx is bit for bit the one from the saved scale (both dtypes, odd and even windows,
// windows wider than the channels).
TEST(Lrn, RecomputedScaleGivesTheSameGradientBitForBit) {
  std::uint64_t seed = 70;
  const std::vector<std::pair<Shape, LrnParams>> cases = {
      {{2, 96, 7, 7}, {5, 1e-4, 0.75, 2.0}},  // AlexNet's settings
      {{1, 6, 4}, {2, 0.5, 0.75, 2.0}},
      {{2, 4, 2, 3}, {4, 0.8, 1.3, 1.0}},
      {{1, 3, 2, 2}, {7, 0.4, 0.75, 1.0}},
      {{3, 1, 5}, {1, 0.2, 0.5, 1.0}}};
  for (const auto& [shape, p] : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << shape_str(shape) << " size " << p.size << " " << dtype);
      const Tensor x = testing::random_tensor(shape, dtype, seed++, -3, 3);
      const Tensor dy = testing::random_tensor(shape, dtype, seed++);
      Tensor scale;
      const Tensor y = lrn_forward(x, p, &scale);
      EXPECT_TRUE(all_equal(lrn_forward(x, p, nullptr), y));
      EXPECT_TRUE(all_equal(lrn_backward(dy, x, y, Tensor(), p), lrn_backward(dy, x, y, scale, p)));
    }
  }
}

TEST(Lrn, Float32MatchesFloat64) {
  const Tensor x = testing::random_tensor({2, 8, 5, 5}, DType::kFloat32, 50, -3, 3);
  const Tensor x64 = Tensor::from_vector(testing::as_doubles(x), x.shape());
  const Tensor dy = testing::random_tensor(x.shape(), DType::kFloat32, 51);
  const Tensor dy64 = Tensor::from_vector(testing::as_doubles(dy), x.shape());
  LrnParams p;
  p.alpha = 0.1;
  Tensor s32, s64;
  const Tensor y32 = lrn_forward(x, p, &s32);
  const Tensor y64 = lrn_forward(x64, p, &s64);
  const Tensor dx32 = lrn_backward(dy, x, y32, s32, p);
  const Tensor dx64 = lrn_backward(dy64, x64, y64, s64, p);
  const auto as64 = [](const Tensor& t) {
    return Tensor::from_vector(testing::as_doubles(t), t.shape());
  };
  const testing::Tolerance tol = testing::tolerance_for(DType::kFloat32);
  EXPECT_TRUE(all_close(as64(y32), y64, tol));
  EXPECT_TRUE(all_close(as64(dx32), dx64, tol));
}

TEST(Lrn, RejectsBadArguments) {
  const Tensor x = testing::random_tensor({2, 4, 3, 3}, DType::kFloat32, 1);
  EXPECT_THROW(lrn_forward(x.view({8, 9}), LrnParams{}, nullptr), ShapeError);
  EXPECT_THROW(lrn_forward(x, LrnParams{0, 1e-4, 0.75, 1.0}, nullptr), ValueError);
  EXPECT_THROW(lrn_forward(x, LrnParams{5, -1.0, 0.75, 1.0}, nullptr), ValueError);
  EXPECT_THROW(lrn_forward(x, LrnParams{5, 1e-4, std::nan(""), 1.0}, nullptr), ValueError);
  EXPECT_THROW(lrn_forward(x, LrnParams{5, 1e-4, 0.75, 0.0}, nullptr), ValueError);
  EXPECT_THROW(lrn_forward(Tensor::zeros({2, 4, 3}, DType::kUInt8), LrnParams{}, nullptr),
               ValueError);
  Tensor scale;
  const Tensor y = lrn_forward(x, LrnParams{}, &scale);
  EXPECT_THROW(lrn_backward(y, x, y, scale.view({2, 4, 9}), LrnParams{}), ShapeError);
  EXPECT_THROW(lrn_backward(y.view({2, 4, 9}), x, y, scale, LrnParams{}), ShapeError);
  EXPECT_NO_THROW(lrn_backward(y, x, y, Tensor(), LrnParams{}));  // scale recomputed from x
  EXPECT_THROW(lrn_backward(y, x, Tensor(), scale, LrnParams{}), ValueError);
  EXPECT_THROW(lrn_backward(y, x, Tensor::zeros(x.shape(), DType::kFloat64), Tensor(), LrnParams{}),
               ValueError);
  EXPECT_THROW(lrn_backward(y, x, Tensor::zeros(x.shape(), DType::kFloat64), scale, LrnParams{}),
               ValueError);
  EXPECT_THROW(lrn_backward(y, x, y, scale, LrnParams{-1, 1e-4, 0.75, 1.0}), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
