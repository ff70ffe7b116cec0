// Pooling on the CPU: known values, PyTorch's conventions, finite-difference gradients, bad
// arguments.
#include "kernels/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/common.h"
#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor iota(const Shape& shape, double start = 0, double step = 1) {
  std::vector<double> v(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + step * static_cast<double>(i);
  return Tensor::from_vector(v, shape);
}

TEST(Pool2dShape, FloorModeSizes) {
  EXPECT_EQ(pool2d_output_shape({128, 96, 55, 55}, Pool2dParams::square(3, 2)),
            (Shape{128, 96, 27, 27}));  // AlexNet pool1
  EXPECT_EQ(pool2d_output_shape({1, 256, 13, 13}, Pool2dParams::square(3, 2)),
            (Shape{1, 256, 6, 6}));  // AlexNet pool5
  EXPECT_EQ(pool2d_output_shape({2, 6, 28, 28}, Pool2dParams::square(2)),
            (Shape{2, 6, 14, 14}));  // LeNet: stride defaults to the kernel
  EXPECT_EQ(pool2d_output_shape({1, 1, 13, 13}, Pool2dParams::square(3, 1, 1)),
            (Shape{1, 1, 13, 13}));
  EXPECT_EQ(pool2d_output_shape({1, 1, 5, 5}, Pool2dParams::square(2)), (Shape{1, 1, 2, 2}));
  Pool2dParams p;
  p.kernel_h = 2;
  p.kernel_w = 3;
  p.stride_h = 1;
  p.stride_w = 2;
  p.pad_w = 1;
  EXPECT_EQ(pool2d_output_shape({1, 1, 4, 7}, p), (Shape{1, 1, 3, 4}));
}

TEST(MaxPool2d, KnownValuesAndArgmax) {
  const Tensor x = iota({1, 1, 4, 4});  // 0..15
  Tensor argmax;
  const Tensor y = max_pool2d_forward(x, Pool2dParams::square(2), &argmax);
  EXPECT_TRUE(all_equal(y, Tensor::from_vector<double>({5, 7, 13, 15}, {1, 1, 2, 2})));
  EXPECT_EQ(argmax.to_vector<std::int64_t>(), (std::vector<std::int64_t>{5, 7, 13, 15}));
  // Overlapping 3x3 windows, stride 1 on a 4x4 plane reversed: maxima at the top left.
  const Tensor r = iota({1, 1, 4, 4}, 15, -1);
  const Tensor yr = max_pool2d_forward(r, Pool2dParams::square(3, 1), &argmax);
  EXPECT_TRUE(all_equal(yr, Tensor::from_vector<double>({15, 14, 11, 10}, {1, 1, 2, 2})));
  EXPECT_EQ(argmax.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 4, 5}));
}

TEST(MaxPool2d, PaddingCountsAsMinusInfinity) {
  const Tensor x = iota({1, 1, 3, 3}, -1, -1);  // -1 .. -9: zeros from padding would win
  Tensor argmax;
  const Tensor y = max_pool2d_forward(x, Pool2dParams::square(3, 1, 1), &argmax);
  EXPECT_TRUE(all_equal(
      y, Tensor::from_vector<double>({-1, -1, -2, -1, -1, -2, -4, -4, -5}, {1, 1, 3, 3})));
  EXPECT_EQ(argmax.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{0, 0, 1, 0, 0, 1, 3, 3, 4}));
}

TEST(MaxPool2d, TiesTakeTheFirstAndNanPropagates) {
  const Tensor ones = Tensor::full({1, 2, 2, 2}, 1.0, DType::kFloat64);
  Tensor argmax;
  max_pool2d_forward(ones, Pool2dParams::square(2), &argmax);
  EXPECT_EQ(argmax.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0}));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = Tensor::from_vector<double>({1, nan, 3, 2}, {1, 1, 2, 2});
  const Tensor y = max_pool2d_forward(x, Pool2dParams::square(2), &argmax);
  EXPECT_TRUE(std::isnan(y.item()));
  EXPECT_EQ(argmax.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1}));
}

TEST(MaxPool2d, BackwardScattersAndSumsOverlaps) {
  // 3x3 windows, stride 1, on a 3x4 plane whose maximum (9 at index 5) wins both windows.
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 9, 0, 1, 2, 3, 4, 5}, {1, 1, 3, 4});
  Tensor argmax;
  const Pool2dParams p = Pool2dParams::square(3, 1);
  max_pool2d_forward(x, p, &argmax);
  EXPECT_EQ(argmax.to_vector<std::int64_t>(), (std::vector<std::int64_t>{5, 5}));
  const Tensor dy = Tensor::from_vector<float>({0.5f, 2.0f}, {1, 1, 1, 2});
  const Tensor dx = max_pool2d_backward(dy, argmax, x.shape(), p);
  std::vector<float> expected(12, 0.0f);
  expected[5] = 2.5f;
  EXPECT_TRUE(all_equal(dx, Tensor::from_vector(expected, {1, 1, 3, 4})));
}

TEST(MaxPool2d, Float32MatchesFloat64) {
  const Tensor x = testing::random_tensor({2, 3, 9, 11}, DType::kFloat32, 5);
  const Pool2dParams p = Pool2dParams::square(3, 2, 1);
  Tensor a32, a64;
  const Tensor y32 = max_pool2d_forward(x, p, &a32);
  const Tensor x64 = Tensor::from_vector(testing::as_doubles(x), x.shape());
  const Tensor y64 = max_pool2d_forward(x64, p, &a64);
  EXPECT_TRUE(all_equal(Tensor::from_vector(testing::as_doubles(y32), y32.shape()), y64));
  EXPECT_TRUE(all_equal(a32, a64));
}

// The values of t as bit patterns (equal NaNs compare equal).
std::vector<std::uint64_t> bits_of(const Tensor& t) {
  std::vector<std::uint64_t> out;
  for (double v : testing::as_doubles(t)) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(b));
    out.push_back(b);
  }
  return out;
}

// The window-offset argmax names the same element as the plane index, and the backward gives the
// same dx bit for bit: the 2x2 fast path, overlapping 3/2 windows (AlexNet), padding, rectangular
// windows, ties and NaNs, float and double.
TEST(MaxPool2d, WindowOffsetArgmaxEqualsPlaneIndex) {
  Pool2dParams rect;
  rect.kernel_h = 2, rect.kernel_w = 3, rect.stride_h = 1, rect.stride_w = 2, rect.pad_w = 1;
  const std::vector<std::pair<Shape, Pool2dParams>> cases = {
      {{2, 3, 28, 28}, Pool2dParams::square(2)},      {{2, 3, 13, 13}, Pool2dParams::square(3, 2)},
      {{1, 2, 9, 11}, Pool2dParams::square(3, 2, 1)}, {{1, 2, 7, 10}, rect},
      {{1, 1, 5, 5}, Pool2dParams::square(5, 1, 2)},  {{2, 2, 7, 7}, Pool2dParams::square(2)}};
  std::uint64_t seed = 30;
  for (const auto& [shape, p] : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << shape_str(shape) << " kernel " << p.kernel_h << "x"
                                        << p.kernel_w << " " << dtype);
      // Small integers: many ties (as after a ReLU); one NaN.
      Tensor x = testing::small_int_tensor(shape, dtype, seed++, 0, 3);
      if (dtype == DType::kFloat64) x.data<double>()[7] = std::numeric_limits<double>::quiet_NaN();
      Tensor index, offset;
      const Tensor y = max_pool2d_forward(x, p, &index);
      const Tensor y8 = max_pool2d_forward(x, p, &offset, ArgmaxFormat::kWindowOffset);
      ASSERT_EQ(offset.dtype(), DType::kUInt8);
      EXPECT_EQ(bits_of(y8), bits_of(y));  // NaN included
      const Pool2dGeometry g = pool2d_geometry(shape, p, "test");
      const std::vector<std::int64_t> iv = index.to_vector<std::int64_t>();
      const std::vector<std::uint8_t> ov = offset.to_vector<std::uint8_t>();
      for (std::size_t k = 0; k < iv.size(); ++k) {
        const std::int64_t ow = static_cast<std::int64_t>(k) % g.out_w;
        const std::int64_t oh = static_cast<std::int64_t>(k) / g.out_w % g.out_h;
        const std::int64_t ih = oh * g.stride_h - g.pad_h + ov[k] / g.kernel_w;
        const std::int64_t iw = ow * g.stride_w - g.pad_w + ov[k] % g.kernel_w;
        ASSERT_EQ(ih * g.in_w + iw, iv[k]) << "output " << k;
      }
      const Tensor dy = testing::random_tensor(y.shape(), dtype, seed++);
      EXPECT_TRUE(all_equal(max_pool2d_backward(dy, offset, shape, p),
                            max_pool2d_backward(dy, index, shape, p)));
    }
  }
}

TEST(MaxPool2d, WindowOffsetArgmaxRejectsLargeWindowsAndBadOffsets) {
  const Tensor x = testing::random_tensor({1, 1, 16, 16}, DType::kFloat32, 2);
  Tensor argmax;
  EXPECT_THROW(
      max_pool2d_forward(x, Pool2dParams::square(16), &argmax, ArgmaxFormat::kWindowOffset),
      ValueError);  // 256 elements
  EXPECT_NO_THROW(
      max_pool2d_forward(x, Pool2dParams::square(15), &argmax, ArgmaxFormat::kWindowOffset));
  const Pool2dParams p = Pool2dParams::square(3, 2, 1);
  const Tensor y = max_pool2d_forward(x, p, &argmax, ArgmaxFormat::kWindowOffset);
  Tensor bad = argmax.clone();
  bad.data<std::uint8_t>()[0] = 0;  // output (0, 0): its window's first element is padding
  EXPECT_THROW(max_pool2d_backward(y, bad, x.shape(), p), ValueError);
  bad = argmax.clone();
  bad.data<std::uint8_t>()[5] = 9;  // past the 3x3 window
  EXPECT_THROW(max_pool2d_backward(y, bad, x.shape(), p), ValueError);
  {  // the dense 2x2 path checks too
    const Pool2dParams p2 = Pool2dParams::square(2);
    Tensor a2;
    const Tensor y2 = max_pool2d_forward(x, p2, &a2, ArgmaxFormat::kWindowOffset);
    a2.data<std::uint8_t>()[10] = 4;
    EXPECT_THROW(max_pool2d_backward(y2, a2, x.shape(), p2), ValueError);
  }
  bad = argmax.clone();
  bad.data<std::uint8_t>()[5] = kNoArgmax;  // no element: that output's dy goes nowhere
  const Tensor dy = Tensor::full(y.shape(), 1.0, DType::kFloat32);
  const std::vector<float> dx = max_pool2d_backward(dy, bad, x.shape(), p).to_vector<float>();
  double total = 0;
  for (float v : dx) total += v;
  EXPECT_EQ(total, static_cast<double>(y.numel() - 1));
}

TEST(AvgPool2d, KnownValuesCountIncludePad) {
  const Tensor x = iota({1, 1, 4, 4});
  const Tensor y = avg_pool2d_forward(x, Pool2dParams::square(2));
  EXPECT_TRUE(all_equal(y, Tensor::from_vector<double>({2.5, 4.5, 10.5, 12.5}, {1, 1, 2, 2})));
  // 3x3, stride 2, padding 1 on 0..15: the corner window holds 0, 1, 4, 5 and 5 padded zeros.
  const Tensor yp = avg_pool2d_forward(x, Pool2dParams::square(3, 2, 1));
  EXPECT_TRUE(all_close(
      yp, Tensor::from_vector<double>({10.0 / 9, 24.0 / 9, 51.0 / 9, 90.0 / 9}, {1, 1, 2, 2})));
}

TEST(AvgPool2d, KnownValuesExcludePad) {
  const Tensor x = iota({1, 1, 4, 4});
  Pool2dParams p = Pool2dParams::square(3, 2, 1);
  p.count_include_pad = false;
  const Tensor y = avg_pool2d_forward(x, p);
  EXPECT_TRUE(all_close(
      y, Tensor::from_vector<double>({10.0 / 4, 24.0 / 6, 51.0 / 6, 90.0 / 9}, {1, 1, 2, 2})));
}

TEST(AvgPool2d, BackwardSpreadsEvenly) {
  for (bool include_pad : {true, false}) {
    Pool2dParams p = Pool2dParams::square(3, 2, 1);
    p.count_include_pad = include_pad;
    const Tensor dy = Tensor::from_vector<double>({36, 0, 0, 0}, {1, 1, 2, 2});
    const Tensor dx = avg_pool2d_backward(dy, {1, 1, 4, 4}, p);
    const double share = include_pad ? 4.0 : 9.0;  // 36 / 9 or 36 / 4
    std::vector<double> expected(16, 0.0);
    for (int i : {0, 1, 4, 5}) expected[i] = share;
    EXPECT_TRUE(all_equal(dx, Tensor::from_vector(expected, {1, 1, 4, 4}))) << include_pad;
  }
}

// Skips every element of a window whose two largest values are within `gap`: there max pooling
// is not differentiable (or the finite difference would swap the maximum).
std::function<bool(const std::vector<double>&, std::size_t)> near_ties(const Pool2dGeometry& g,
                                                                       double gap) {
  return [g, gap](const std::vector<double>& x, std::size_t index) {
    const auto i = static_cast<std::int64_t>(index);
    const std::int64_t plane = i / g.in_plane();
    const std::int64_t ih = (i % g.in_plane()) / g.in_w;
    const std::int64_t iw = i % g.in_w;
    for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
      for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
        const std::int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
        if (ih < h0 || ih >= h0 + g.kernel_h || iw < w0 || iw >= w0 + g.kernel_w) continue;
        std::vector<double> vals;
        for (std::int64_t h = std::max<std::int64_t>(h0, 0); h < std::min(h0 + g.kernel_h, g.in_h);
             ++h) {
          for (std::int64_t w = std::max<std::int64_t>(w0, 0);
               w < std::min(w0 + g.kernel_w, g.in_w); ++w) {
            vals.push_back(x[static_cast<std::size_t>(plane * g.in_plane() + h * g.in_w + w)]);
          }
        }
        std::sort(vals.rbegin(), vals.rend());
        if (vals.size() > 1 && vals[0] - vals[1] < gap) return true;
      }
    }
    return false;
  };
}

TEST(MaxPool2d, GradientMatchesFiniteDifferences) {
  struct Case {
    Shape shape;
    Pool2dParams p;
  };
  Pool2dParams rect;
  rect.kernel_h = 2;
  rect.kernel_w = 3;
  rect.stride_h = 1;
  rect.stride_w = 2;
  rect.pad_w = 1;
  const std::vector<Case> cases = {{{2, 2, 5, 5}, Pool2dParams::square(3, 2)},
                                   {{1, 3, 6, 6}, Pool2dParams::square(3, 1, 1)},
                                   {{1, 2, 4, 7}, rect}};
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    const Tensor x = testing::random_tensor(c.shape, DType::kFloat64, seed++);
    Tensor argmax;
    const Tensor y = max_pool2d_forward(x, c.p, &argmax);
    const Tensor dy = testing::random_tensor(y.shape(), DType::kFloat64, seed++);
    const Tensor dx = max_pool2d_backward(dy, argmax, x.shape(), c.p);
    const auto f = [&](const Tensor& xi) { return max_pool2d_forward(xi, c.p, nullptr); };
    const Pool2dGeometry g = pool2d_geometry(x.shape(), c.p, "test");
    EXPECT_TRUE(testing::check_gradient(f, x, dy, dx, 1e-6, 1e-6, near_ties(g, 1e-4)))
        << shape_str(c.shape);
  }
}

TEST(AvgPool2d, GradientMatchesFiniteDifferences) {
  std::uint64_t seed = 200;
  for (bool include_pad : {true, false}) {
    for (const Pool2dParams& base :
         {Pool2dParams::square(3, 2, 1), Pool2dParams::square(2), Pool2dParams::square(3, 1, 1)}) {
      Pool2dParams p = base;
      p.count_include_pad = include_pad;
      const Tensor x = testing::random_tensor({1, 2, 5, 6}, DType::kFloat64, seed++);
      const Tensor y = avg_pool2d_forward(x, p);
      const Tensor dy = testing::random_tensor(y.shape(), DType::kFloat64, seed++);
      const Tensor dx = avg_pool2d_backward(dy, x.shape(), p);
      const auto f = [&](const Tensor& xi) { return avg_pool2d_forward(xi, p); };
      EXPECT_TRUE(testing::check_gradient(f, x, dy, dx)) << include_pad;
    }
  }
}

TEST(Pool2d, RejectsBadArguments) {
  const Tensor x = testing::random_tensor({1, 2, 6, 6}, DType::kFloat32, 1);
  EXPECT_THROW(max_pool2d_forward(x, Pool2dParams::square(0), nullptr), ValueError);
  EXPECT_THROW(max_pool2d_forward(x, Pool2dParams::square(2, -1), nullptr), ValueError);
  EXPECT_THROW(avg_pool2d_forward(x, Pool2dParams::square(3, 1, 2)), ValueError);   // pad > k/2
  EXPECT_THROW(avg_pool2d_forward(x, Pool2dParams::square(2, 1, -1)), ValueError);  // pad < 0
  EXPECT_THROW(max_pool2d_forward(x, Pool2dParams::square(7), nullptr), ShapeError);
  EXPECT_THROW(max_pool2d_forward(x.view({2, 6, 6}), Pool2dParams::square(2), nullptr), ShapeError);
  EXPECT_THROW(max_pool2d_forward(Tensor::zeros({1, 1, 4, 4}, DType::kInt32),
                                  Pool2dParams::square(2), nullptr),
               ValueError);
  EXPECT_THROW(avg_pool2d_forward(Tensor(), Pool2dParams::square(2)), ValueError);
  EXPECT_THROW(avg_pool2d_forward(Tensor::zeros({0, 1, 4, 4}), Pool2dParams::square(2)),
               ShapeError);

  const Pool2dParams p = Pool2dParams::square(2);
  Tensor argmax;
  const Tensor y = max_pool2d_forward(x, p, &argmax);
  EXPECT_THROW(max_pool2d_backward(y, argmax, {1, 2, 8, 8}, p), ShapeError);
  EXPECT_THROW(max_pool2d_backward(y, Tensor::zeros(y.shape(), DType::kInt32), x.shape(), p),
               ValueError);
  EXPECT_THROW(max_pool2d_backward(y, argmax.view({2, 3, 3}), x.shape(), p), ShapeError);
  Tensor bad = argmax.clone();
  bad.data<std::int64_t>()[3] = 36;  // outside the 6x6 plane
  EXPECT_THROW(max_pool2d_backward(y, bad, x.shape(), p), ValueError);
  EXPECT_THROW(avg_pool2d_backward(y, {1, 2, 7, 7}, Pool2dParams::square(3)), ShapeError);
  EXPECT_THROW(avg_pool2d_backward(y.to(Device::cpu()), {1, 2, 6, 6}, Pool2dParams::square(0)),
               ValueError);
}

TEST(Pool2d, ErrorsNameTheOpAndValues) {
  const Tensor x = testing::random_tensor({1, 2, 6, 6}, DType::kFloat32, 1);
  try {
    avg_pool2d_forward(x, Pool2dParams::square(3, 1, 2));
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("avg_pool2d_forward"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pad_h"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got 2"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace cudanet::kernels
