// conv2d on the CPU: hand-computed values, an independent im2col formulation on many geometries,
// finite-difference gradients of all three backward passes, and argument checks.
#include "kernels/conv2d.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::as_doubles;
using testing::random_tensor;

Conv2dParams params(std::int64_t stride, std::int64_t pad, std::int64_t dilation = 1,
                    std::int64_t groups = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

Tensor doubles(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}

// ---- known values ----

TEST(Conv2dCpu, TwoByTwoKernelOnThreeByThreeInput) {
  const Tensor x = doubles({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor w = doubles({1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor b = doubles({0.5}, {1});
  EXPECT_TRUE(
      all_close(conv2d_forward(x, w, nullptr, {}), doubles({37, 47, 67, 77}, {1, 1, 2, 2})));
  EXPECT_TRUE(
      all_close(conv2d_forward(x, w, &b, {}), doubles({37.5, 47.5, 67.5, 77.5}, {1, 1, 2, 2})));

  const Tensor dy = Tensor::full({1, 1, 2, 2}, 1.0, DType::kFloat64);
  EXPECT_TRUE(all_close(conv2d_backward_data(dy, w, x.shape(), {}),
                        doubles({1, 3, 2, 4, 10, 6, 3, 7, 4}, {1, 1, 3, 3})));
  EXPECT_TRUE(all_close(conv2d_backward_filter(dy, x, w.shape(), {}),
                        doubles({12, 16, 24, 28}, {1, 1, 2, 2})));
  EXPECT_TRUE(all_close(conv2d_backward_bias(dy), doubles({4}, {1})));
}

TEST(Conv2dCpu, PaddingSumsTheNeighbourhood) {
  const Tensor x = doubles({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor w = Tensor::full({1, 1, 3, 3}, 1.0, DType::kFloat64);
  EXPECT_TRUE(all_close(conv2d_forward(x, w, nullptr, params(1, 1)),
                        doubles({12, 21, 16, 27, 45, 33, 24, 39, 28}, {1, 1, 3, 3})));
}

TEST(Conv2dCpu, StrideAndDilationPickTheRightPixels) {
  std::vector<double> v(25);
  for (int i = 0; i < 25; ++i) v[i] = i;  // x[i, j] = 5 i + j
  const Tensor x = doubles(v, {1, 1, 5, 5});
  const Tensor w = Tensor::full({1, 1, 2, 2}, 1.0, DType::kFloat64);
  // y[p, q] = x[2p, 2q] + x[2p, 2q+2] + x[2p+2, 2q] + x[2p+2, 2q+2]
  EXPECT_TRUE(all_close(conv2d_forward(x, w, nullptr, params(2, 0, 2)),
                        doubles({24, 32, 64, 72}, {1, 1, 2, 2})));
}

TEST(Conv2dCpu, IdentityKernelsReturnTheInput) {
  const Tensor x = random_tensor({2, 3, 5, 4}, DType::kFloat64, 1);
  std::vector<double> eye(9, 0.0);
  for (int i = 0; i < 3; ++i) eye[i * 4] = 1;
  EXPECT_TRUE(all_close(conv2d_forward(x, doubles(eye, {3, 3, 1, 1}), nullptr, {}), x));
  // Depthwise: groups == channels, one 1x1 weight of 1 per channel.
  const Tensor ones = Tensor::full({3, 1, 1, 1}, 1.0, DType::kFloat64);
  EXPECT_TRUE(all_close(conv2d_forward(x, ones, nullptr, params(1, 0, 1, 3)), x));
}

TEST(Conv2dCpu, GroupsKeepChannelsApart) {
  const Tensor x = random_tensor({2, 2, 3, 3}, DType::kFloat64, 2);
  const Tensor y = conv2d_forward(x, doubles({2, 3}, {2, 1, 1, 1}), nullptr, params(1, 0, 1, 2));
  const std::vector<double> xv = as_doubles(x), yv = as_doubles(y);
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const double scale = (i / 9) % 2 == 0 ? 2.0 : 3.0;
    EXPECT_DOUBLE_EQ(yv[i], scale * xv[i]) << i;
  }
}

TEST(Conv2dCpu, OutputSizeFollowsTheFormula) {
  EXPECT_EQ(conv2d_output_size(227, 11, 4, 0, 1), 55);  // AlexNet conv1
  EXPECT_EQ(conv2d_output_size(27, 5, 1, 2, 1), 27);
  EXPECT_EQ(conv2d_output_size(13, 3, 2, 1, 2), 6);
  const Conv2dGeometry g = conv2d_geometry({4, 3, 227, 227}, {96, 3, 11, 11}, params(4, 0), "t");
  EXPECT_EQ(g.y_shape(), (Shape{4, 96, 55, 55}));
}

// ---- an independent formulation: explicit im2col matrices and matrix products ----

struct Im2col {
  Conv2dGeometry g;
  // col[group][(c, r, s)][(n, p, q)] -> flat index into x, or -1 for padding.
  std::vector<std::int64_t> source;

  explicit Im2col(const Conv2dGeometry& geo) : g(geo) {
    const Conv2dParams& p = g.params;
    for (std::int64_t grp = 0; grp < g.groups(); ++grp)
      for (std::int64_t c = 0; c < g.c_per_group(); ++c)
        for (std::int64_t r = 0; r < g.r; ++r)
          for (std::int64_t s = 0; s < g.s; ++s)
            for (std::int64_t n = 0; n < g.n; ++n)
              for (std::int64_t oh = 0; oh < g.p; ++oh)
                for (std::int64_t ow = 0; ow < g.q; ++ow) {
                  const std::int64_t ih = oh * p.stride_h - p.pad_h + r * p.dilation_h;
                  const std::int64_t iw = ow * p.stride_w - p.pad_w + s * p.dilation_w;
                  const bool in = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
                  const std::int64_t xc = grp * g.c_per_group() + c;
                  source.push_back(in ? ((n * g.c + xc) * g.h + ih) * g.w + iw : -1);
                }
  }
  std::int64_t rows() const { return g.c_per_group() * g.r * g.s; }
  std::int64_t cols() const { return g.n * g.p * g.q; }
  std::int64_t y_index(std::int64_t grp, std::int64_t k, std::int64_t col) const {
    const std::int64_t n = col / (g.p * g.q), pq = col % (g.p * g.q);
    return (n * g.k + grp * g.k_per_group() + k) * g.p * g.q + pq;
  }
  std::int64_t w_index(std::int64_t grp, std::int64_t k, std::int64_t row) const {
    return (grp * g.k_per_group() + k) * rows() + row;
  }
  std::int64_t src(std::int64_t grp, std::int64_t row, std::int64_t col) const {
    return source[static_cast<std::size_t>((grp * rows() + row) * cols() + col)];
  }
  // Calls f(x index, w index, y index) for each product of the three matrix products.
  template <typename F>
  void each(F&& f) const {
    for (std::int64_t grp = 0; grp < g.groups(); ++grp)
      for (std::int64_t k = 0; k < g.k_per_group(); ++k)
        for (std::int64_t row = 0; row < rows(); ++row)
          for (std::int64_t col = 0; col < cols(); ++col) {
            const std::int64_t xi = src(grp, row, col);
            if (xi >= 0) f(xi, w_index(grp, k, row), y_index(grp, k, col));
          }
  }
};

struct Case {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

std::vector<Case> cases() {
  Conv2dParams asym = params(1, 0, 1, 2);
  asym.stride_h = 3, asym.pad_h = 2, asym.dilation_w = 3;
  return {
      {"basic", {2, 3, 7, 7}, {4, 3, 3, 3}, params(1, 0)},
      {"channels3_spatial13_pad1", {1, 3, 13, 13}, {5, 3, 3, 3}, params(1, 1)},
      {"stride2_pad1", {2, 2, 9, 8}, {3, 2, 3, 3}, params(2, 1)},
      {"stride4_11x11", {1, 3, 31, 31}, {4, 3, 11, 11}, params(4, 0)},
      {"dilation2", {2, 2, 9, 9}, {3, 2, 3, 3}, params(1, 1, 2)},
      {"groups2_stride2_dilation2", {1, 4, 13, 11}, {6, 2, 3, 2}, params(2, 1, 2, 2)},
      {"depthwise", {3, 4, 6, 6}, {4, 1, 3, 3}, params(1, 1, 1, 4)},
      {"asymmetric", {2, 4, 7, 12}, {6, 2, 2, 4}, asym},
      {"kernel_fills_input", {2, 3, 4, 5}, {2, 3, 4, 5}, params(1, 0)},
      // Batches the fast path cuts into blocks of several images (gathered dy, scattered y) and
      // into more blocks than filter-gradient partial sums (kernels/cpu/conv2d_gemm.cc).
      {"batch20_blocks_of_3", {20, 2, 6, 6}, {3, 2, 3, 3}, params(1, 1)},
      {"batch12_groups2_blocks_of_2", {12, 4, 5, 5}, {6, 2, 3, 3}, params(1, 1, 1, 2)},
      {"batch40_one_image_blocks", {40, 3, 32, 32}, {4, 3, 5, 5}, params(1, 2)},
  };
}

std::string case_name(const ::testing::TestParamInfo<Case>& param_info) {
  return param_info.param.name;
}

class Conv2dVariant : public ::testing::TestWithParam<Case> {};

TEST_P(Conv2dVariant, AllPassesMatchTheIm2colFormulation) {
  const Case& c = GetParam();
  const Tensor x = random_tensor(c.x, DType::kFloat64, 10);
  const Tensor w = random_tensor(c.w, DType::kFloat64, 11);
  const Tensor b = random_tensor({c.w[0]}, DType::kFloat64, 12);
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const Tensor dy = random_tensor(g.y_shape(), DType::kFloat64, 13);
  const std::vector<double> xv = as_doubles(x), wv = as_doubles(w), bv = as_doubles(b),
                            dyv = as_doubles(dy);
  std::vector<double> y(dyv.size()), dx(xv.size(), 0.0), dw(wv.size(), 0.0), db(bv.size(), 0.0);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = bv[(i / (g.p * g.q)) % g.k];
  for (std::size_t i = 0; i < y.size(); ++i) db[(i / (g.p * g.q)) % g.k] += dyv[i];
  Im2col(g).each([&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    y[yi] += wv[wi] * xv[xi];
    dx[xi] += wv[wi] * dyv[yi];
    dw[wi] += dyv[yi] * xv[xi];
  });
  // Both CPU paths: the reference loops and the fast im2col + GEMM path.
  for (ConvAlgo algo : {ConvAlgo::kReference, ConvAlgo::kIm2col}) {
    SCOPED_TRACE(conv_algo_name(algo));
    EXPECT_TRUE(all_close(conv2d_forward(x, w, &b, c.p, algo), doubles(y, g.y_shape())));
    EXPECT_TRUE(all_close(conv2d_backward_data(dy, w, c.x, c.p, algo), doubles(dx, c.x)));
    EXPECT_TRUE(all_close(conv2d_backward_filter(dy, x, c.w, c.p, algo), doubles(dw, c.w)));
  }
  EXPECT_TRUE(all_close(conv2d_backward_bias(dy), doubles(db, {g.k})));

  // float32 agrees with float64 to float precision; the algorithm choice does not matter on CPU.
  const auto f32 = [](const Tensor& t) {
    const std::vector<double> v = as_doubles(t);
    return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), t.shape());
  };
  const Tensor y32 = conv2d_forward(f32(x), f32(w), nullptr, c.p, ConvAlgo::kIm2col);
  const Tensor y64 = conv2d_forward(x, w, nullptr, c.p, ConvAlgo::kReference);
  EXPECT_TRUE(all_close(y32, f32(y64)));
  // The fast path's filter gradient sums in a fixed order: repeated runs are bitwise equal.
  const Tensor dw1 = conv2d_backward_filter(f32(dy), f32(x), c.w, c.p);
  EXPECT_TRUE(testing::all_equal(conv2d_backward_filter(f32(dy), f32(x), c.w, c.p), dw1));
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dVariant, ::testing::ValuesIn(cases()), case_name);

// ---- finite-difference gradients (float64) ----

class Conv2dGradient : public ::testing::TestWithParam<Case> {};

TEST_P(Conv2dGradient, BackwardPassesMatchCentralDifferences) {
  const Case& c = GetParam();
  const Tensor x = random_tensor(c.x, DType::kFloat64, 20);
  const Tensor w = random_tensor(c.w, DType::kFloat64, 21);
  const Tensor b = random_tensor({c.w[0]}, DType::kFloat64, 22);
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const Tensor dy = random_tensor(g.y_shape(), DType::kFloat64, 23);
  EXPECT_TRUE(
      testing::check_gradient([&](const Tensor& xi) { return conv2d_forward(xi, w, &b, c.p); }, x,
                              dy, conv2d_backward_data(dy, w, c.x, c.p)))
      << "backward-data";
  EXPECT_TRUE(
      testing::check_gradient([&](const Tensor& wi) { return conv2d_forward(x, wi, &b, c.p); }, w,
                              dy, conv2d_backward_filter(dy, x, c.w, c.p)))
      << "backward-filter";
  EXPECT_TRUE(
      testing::check_gradient([&](const Tensor& bi) { return conv2d_forward(x, w, &bi, c.p); }, b,
                              dy, conv2d_backward_bias(dy)))
      << "bias";
}

std::vector<Case> gradient_cases() {
  return {
      {"stride1", {2, 3, 5, 5}, {2, 3, 3, 3}, params(1, 0)},
      {"stride2_pad1", {1, 2, 7, 6}, {3, 2, 3, 3}, params(2, 1)},
      {"dilation2_pad1", {2, 2, 7, 7}, {2, 2, 3, 3}, params(1, 1, 2)},
      {"groups2", {2, 4, 5, 5}, {4, 2, 2, 2}, params(1, 0, 1, 2)},
      {"all_at_once", {2, 4, 9, 8}, {4, 2, 3, 3}, params(2, 1, 2, 2)},
  };
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dGradient, ::testing::ValuesIn(gradient_cases()),
                         case_name);

// ---- bad arguments: the right exception, naming the op, before anything runs ----

template <typename E, typename F>
void expect_error(F&& f, const std::string& op) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << op;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}

TEST(Conv2dCpu, BadParametersThrowValueError) {
  const Tensor x = random_tensor({1, 2, 5, 5}, DType::kFloat32, 1);
  const Tensor w = random_tensor({2, 2, 3, 3}, DType::kFloat32, 2);
  for (Conv2dParams p : {params(0, 0), params(1, -1), params(1, 0, 0), params(1, 0, 1, 0)}) {
    expect_error<ValueError>([&] { conv2d_forward(x, w, nullptr, p); }, "conv2d_forward");
  }
  expect_error<ValueError>([&] { conv2d_forward(x, w, nullptr, {}, static_cast<ConvAlgo>(7)); },
                           "conv2d_forward");
}

TEST(Conv2dCpu, BadShapesThrowShapeError) {
  const auto f = [](const Shape& xs, const Shape& ws, Conv2dParams p) {
    const Tensor x = Tensor::zeros(xs), w = Tensor::zeros(ws);
    expect_error<ShapeError>([&] { conv2d_forward(x, w, nullptr, p); }, "conv2d_forward");
  };
  f({1, 3, 5, 5}, {2, 3, 3, 3}, params(1, 0, 1, 2));  // C % groups
  f({1, 4, 5, 5}, {3, 2, 3, 3}, params(1, 0, 1, 2));  // K % groups
  f({1, 4, 5, 5}, {2, 4, 3, 3}, params(1, 0, 1, 2));  // w needs C/groups channels
  f({1, 2, 5, 5}, {2, 3, 3, 3}, {});                  // channel mismatch
  f({2, 5, 5}, {2, 2, 3, 3}, {});                     // x not 4-D
  f({1, 2, 5, 5}, {2, 2, 3}, {});                     // w not 4-D
  f({1, 2, 5, 5}, {2, 2, 6, 3}, {});                  // kernel larger than the input
  f({1, 2, 5, 5}, {2, 2, 3, 3}, params(1, 0, 3));     // dilated kernel larger than the input
  f({0, 2, 5, 5}, {2, 2, 3, 3}, {});                  // empty batch
  f({1, 2, 5, 5}, {0, 2, 3, 3}, {});                  // no output channels

  const Tensor x = Tensor::zeros({1, 2, 5, 5}), w = Tensor::zeros({4, 2, 3, 3});
  const Tensor bad_bias = Tensor::zeros({3});
  expect_error<ShapeError>([&] { conv2d_forward(x, w, &bad_bias, {}); }, "conv2d_forward");
  const Tensor bad_dy = Tensor::zeros({1, 4, 3, 4});
  expect_error<ShapeError>([&] { conv2d_backward_data(bad_dy, w, x.shape(), {}); },
                           "conv2d_backward_data");
  expect_error<ShapeError>(
      [&] {
        conv2d_backward_data(bad_dy, w, {1, 2, 5}, {});
      },
      "conv2d_backward_data");
  expect_error<ShapeError>([&] { conv2d_backward_filter(bad_dy, x, w.shape(), {}); },
                           "conv2d_backward_filter");
  const Tensor dy = Tensor::zeros({1, 4, 3, 3});
  expect_error<ShapeError>(
      [&] {
        conv2d_backward_filter(dy, x, {4, 3, 3, 3}, {});
      },
      "conv2d_backward_filter");
  expect_error<ShapeError>(
      [&] {
        conv2d_backward_bias(Tensor::zeros({4, 3}));
      },
      "conv2d_backward_bias");
}

TEST(Conv2dCpu, BadDtypesAndLayoutsThrowValueError) {
  const Tensor x = Tensor::zeros({1, 2, 5, 5}), w = Tensor::zeros({2, 2, 3, 3});
  const Tensor x64 = Tensor::zeros({1, 2, 5, 5}, DType::kFloat64);
  const Tensor xi = Tensor::zeros({1, 2, 5, 5}, DType::kInt32);
  expect_error<ValueError>([&] { conv2d_forward(x64, w, nullptr, {}); }, "conv2d_forward");
  expect_error<ValueError>([&] { conv2d_forward(xi, w, nullptr, {}); }, "conv2d_forward");
  const Tensor b64 = Tensor::zeros({2}, DType::kFloat64);
  expect_error<ValueError>([&] { conv2d_forward(x, w, &b64, {}); }, "conv2d_forward");
  const Tensor strided = Tensor::zeros({2, 4, 5, 5}).narrow(1, 1, 2);  // not contiguous
  expect_error<ValueError>([&] { conv2d_forward(strided, w, nullptr, {}); }, "conv2d_forward");
  const Tensor undefined;
  expect_error<ValueError>([&] { conv2d_forward(undefined, w, nullptr, {}); }, "conv2d_forward");
  const Tensor dy = Tensor::zeros({1, 2, 3, 3});
  expect_error<ValueError>(
      [&] {
        conv2d_backward_data(dy, Tensor::zeros({2, 2, 3, 3}, DType::kFloat64), x.shape(), {});
      },
      "conv2d_backward_data");
  expect_error<ValueError>([&] { conv2d_backward_filter(dy, x64, w.shape(), {}); },
                           "conv2d_backward_filter");
  expect_error<ValueError>(
      [&] {
        conv2d_backward_bias(Tensor::zeros({1, 2, 3, 3}, DType::kInt64));
      },
      "conv2d_backward_bias");
}

}  // namespace
}  // namespace cudanet::kernels
