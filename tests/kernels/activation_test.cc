// Activations on the CPU: known values, the backward conventions, finite-difference gradients,
// bad arguments.
#include "kernels/activation.h"

#include <cmath>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

const std::vector<double> kInputs = {-100.0, -2.0, -0.5, 0.0, 0.25, 1.0, 3.0, 100.0};

Tensor vec(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())});
}

std::vector<double> map(const std::vector<double>& v, double (*f)(double)) {
  std::vector<double> out;
  for (double x : v) out.push_back(f(x));
  return out;
}

TEST(Activation, ForwardKnownValues) {
  const Tensor x = vec(kInputs);
  EXPECT_TRUE(all_equal(relu_forward(x), vec({0, 0, 0, 0, 0.25, 1, 3, 100})));
  EXPECT_TRUE(all_equal(leaky_relu_forward(x, 0.1), vec({-10, -0.2, -0.05, 0, 0.25, 1, 3, 100})));
  EXPECT_TRUE(all_close(sigmoid_forward(x),
                        vec(map(kInputs, [](double v) { return 1 / (1 + std::exp(-v)); }))));
  EXPECT_TRUE(all_close(tanh_forward(x), vec(map(kInputs, [](double v) { return std::tanh(v); }))));
  const std::vector<double> s = sigmoid_forward(x).to_vector<double>();
  EXPECT_EQ(s[0], 1 / (1 + std::exp(100.0)));  // far tails stay finite and exact-ish
  EXPECT_EQ(s[7], 1.0);
}

TEST(Activation, Float32KnownValues) {
  const Tensor x = Tensor::from_vector<float>({-3.0f, -0.0f, 0.0f, 2.0f}, {2, 2});
  EXPECT_TRUE(all_equal(relu_forward(x), Tensor::from_vector<float>({0, 0, 0, 2}, {2, 2})));
  EXPECT_TRUE(
      all_equal(leaky_relu_forward(x, 0.5), Tensor::from_vector<float>({-1.5f, 0, 0, 2}, {2, 2})));
  EXPECT_TRUE(all_close(tanh_forward(x), Tensor::from_vector<float>(
                                             {std::tanh(-3.0f), 0, 0, std::tanh(2.0f)}, {2, 2})));
  EXPECT_EQ(sigmoid_forward(x).to_vector<float>()[1], 0.5f);
}

TEST(Activation, ReluPropagatesNan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(relu_forward(vec({nan})).item()));
  EXPECT_TRUE(std::isnan(leaky_relu_forward(vec({nan})).item()));
}

TEST(Activation, BackwardConventions) {
  const Tensor x = vec({-2.0, 0.0, 3.0});
  const Tensor dy = vec({10.0, 20.0, 30.0});
  // From x; the gradient at 0 is the left one.
  EXPECT_TRUE(all_equal(relu_backward(dy, x), vec({0, 0, 30})));
  EXPECT_TRUE(all_equal(leaky_relu_backward(dy, x, 0.25), vec({2.5, 5, 30})));
  // From y: sigmoid' = y (1 - y), tanh' = 1 - y^2.
  const Tensor y = vec({0.5, 0.25, 0.9});
  EXPECT_TRUE(all_close(sigmoid_backward(dy, y), vec({10 * 0.25, 20 * 0.1875, 30 * 0.09})));
  EXPECT_TRUE(all_close(tanh_backward(dy, y), vec({10 * 0.75, 20 * 0.9375, 30 * 0.19})));
}

TEST(Activation, GenericEntryPointsMatchTheNamedOnes) {
  const Tensor x = testing::random_tensor({3, 5, 7}, DType::kFloat32, 11, -3, 3);
  const Tensor dy = testing::random_tensor({3, 5, 7}, DType::kFloat32, 12);
  EXPECT_TRUE(all_equal(activation_forward(Activation::kReLU, x), relu_forward(x)));
  EXPECT_TRUE(
      all_equal(activation_forward(Activation::kLeakyReLU, x, 0.2), leaky_relu_forward(x, 0.2)));
  EXPECT_TRUE(all_equal(activation_forward(Activation::kSigmoid, x), sigmoid_forward(x)));
  EXPECT_TRUE(all_equal(activation_forward(Activation::kTanh, x), tanh_forward(x)));
  EXPECT_TRUE(all_equal(activation_backward(Activation::kReLU, dy, x), relu_backward(dy, x)));
  EXPECT_TRUE(all_equal(activation_backward(Activation::kLeakyReLU, dy, x, 0.2),
                        leaky_relu_backward(dy, x, 0.2)));
  const Tensor s = sigmoid_forward(x), t = tanh_forward(x);
  EXPECT_TRUE(all_equal(activation_backward(Activation::kSigmoid, dy, s), sigmoid_backward(dy, s)));
  EXPECT_TRUE(all_equal(activation_backward(Activation::kTanh, dy, t), tanh_backward(dy, t)));
  EXPECT_STREQ(activation_name(Activation::kLeakyReLU), "leaky_relu");
}

TEST(Activation, GradientsMatchFiniteDifferences) {
  const Tensor x = testing::random_tensor({4, 3, 5}, DType::kFloat64, 21, -4, 4);
  const Tensor dy = testing::random_tensor({4, 3, 5}, DType::kFloat64, 22);
  const auto near_kink = [](const std::vector<double>& v, std::size_t i) {
    return std::fabs(v[i]) < 1e-3;
  };
  for (Activation kind :
       {Activation::kReLU, Activation::kLeakyReLU, Activation::kSigmoid, Activation::kTanh}) {
    const double slope = 0.07;
    const auto f = [&](const Tensor& xi) { return activation_forward(kind, xi, slope); };
    const bool from_output = kind == Activation::kSigmoid || kind == Activation::kTanh;
    const Tensor saved = from_output ? f(x) : x;
    const Tensor dx = activation_backward(kind, dy, saved, slope);
    EXPECT_TRUE(testing::check_gradient(f, x, dy, dx, 1e-6, 1e-6, near_kink))
        << activation_name(kind);
  }
}

// The bits of every element, so NaN, -0 and infinities compare exactly.
template <typename T>
std::vector<T> raw(const Tensor& t) {
  return t.to(Device::cpu()).to_vector<T>();
}

template <typename T>
std::vector<std::uint64_t> bits(const Tensor& t) {
  std::vector<std::uint64_t> out;
  for (T v : raw<T>(t)) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    out.push_back(b);
  }
  return out;
}

// Inputs with the edge cases of the in-place argument: NaN, -0, +0, infinities, tiny values.
Tensor edge_inputs(DType dtype) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {nan, -0.0, 0.0, inf, -inf, 1e-310, -1e-310, 1e-30, -1e-30};
  for (int i = 0; i < 1000; ++i) v.push_back(std::sin(i * 0.37) * (i % 7));
  return vec(v).to(dtype);
}

// The memory plan runs ReLU (and leaky ReLU with a slope >= 0) in place, and its backward then
// reads y instead of x: forward values and dx equal the out-of-place ones bit for bit.
TEST(Activation, InPlaceForwardAndBackwardFromTheOutputAreBitwiseEqual) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (Activation kind : {Activation::kReLU, Activation::kLeakyReLU}) {
      for (double slope : {0.0, 0.01, 0.5}) {
        SCOPED_TRACE(::testing::Message()
                     << activation_name(kind) << " " << dtype << " slope " << slope);
        const Tensor x = edge_inputs(dtype);
        const Tensor dy = testing::random_tensor(x.shape(), dtype, 5);
        const Tensor y = activation_forward(kind, x, slope);
        const Tensor dx = activation_backward(kind, dy, x, slope);
        Tensor z = x.clone();
        activation_forward_inplace(kind, z, slope);
        const Tensor dx_from_y = activation_backward(kind, dy, z, slope);
        if (dtype == DType::kFloat32) {
          EXPECT_EQ(bits<float>(z), bits<float>(y));
          EXPECT_EQ(bits<float>(dx_from_y), bits<float>(dx));
        } else {
          EXPECT_EQ(bits<double>(z), bits<double>(y));
          EXPECT_EQ(bits<double>(dx_from_y), bits<double>(dx));
        }
      }
    }
  }
  // Sigmoid and tanh in place equal their out-of-place forward too.
  for (Activation kind : {Activation::kSigmoid, Activation::kTanh}) {
    const Tensor x = edge_inputs(DType::kFloat64);
    Tensor z = x.clone();
    activation_forward_inplace(kind, z);
    EXPECT_EQ(bits<double>(z), bits<double>(activation_forward(kind, x)));
  }
  EXPECT_THROW(activation_forward_inplace(Activation::kReLU, Tensor()), ValueError);
  EXPECT_THROW(activation_forward_inplace(Activation::kReLU, Tensor::zeros({3}, DType::kInt32)),
               ValueError);
}

TEST(Activation, RejectsBadArguments) {
  const Tensor x = testing::random_tensor({2, 3}, DType::kFloat32, 1);
  EXPECT_THROW(relu_forward(Tensor()), ValueError);
  EXPECT_THROW(relu_forward(Tensor::zeros({2, 3}, DType::kInt64)), ValueError);
  EXPECT_THROW(leaky_relu_forward(x, std::numeric_limits<double>::infinity()), ValueError);
  EXPECT_THROW(leaky_relu_forward(x, std::nan("")), ValueError);
  EXPECT_THROW(relu_backward(x, x.view({3, 2})), ShapeError);
  EXPECT_THROW(sigmoid_backward(x, Tensor::zeros({2, 3}, DType::kFloat64)), ValueError);
  EXPECT_THROW(tanh_backward(x, Tensor()), ValueError);
  EXPECT_THROW(activation_forward(static_cast<Activation>(42), x), ValueError);
  try {
    tanh_backward(x, x.view({6}));
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tanh_backward"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace cudanet::kernels
