// Every layer's backward against central differences (float64, CPU): the input gradient and each
// parameter gradient, so backpropagation through the layer is right.
#include <gtest/gtest.h>

#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/normalization.h"
#include "layers/sequential.h"
#include "tensor_testing.h"

namespace cudanet::layers {
namespace {

using testing::check_gradient;
using testing::random_tensor;

constexpr DType kF64 = DType::kFloat64;

// Checks dL/dx and dL/dparam of `layer` at x for L = sum(layer(x) * dy), dy random.
void expect_gradients(Layer& layer, const Tensor& x, double tol = 1e-6,
                      const std::function<void()>& before_forward = {}) {
  layer.to(kF64);
  const Shape out_shape = layer.output_shape(x.shape());
  const Tensor dy = random_tensor(out_shape, kF64, 99);
  const auto run = [&](const Tensor& in) {
    if (before_forward) before_forward();
    return layer.forward(in, Mode::kTrain);
  };
  layer.zero_grad();
  run(x);
  const Tensor dx = layer.backward(dy);
  EXPECT_TRUE(check_gradient(run, x, dy, dx, 1e-6, tol)) << layer.describe() << ": input";
  for (Parameter* p : layer.parameters()) {
    const Tensor saved = p->value.clone();
    const Tensor analytic = p->grad.clone();
    const auto with_param = [&](const Tensor& v) {
      p->value = v;
      return run(x);
    };
    EXPECT_TRUE(check_gradient(with_param, saved, dy, analytic, 1e-6, tol))
        << layer.describe() << ": " << p->name;
    p->value = saved;
  }
}

TEST(LayerGradients, Linear) {
  Linear l(5, 3);
  expect_gradients(l, random_tensor({4, 5}, kF64, 1));
}

TEST(LayerGradients, LinearWithoutBias) {
  Linear l(3, 2, /*bias=*/false);
  EXPECT_EQ(l.parameters().size(), 1u);
  expect_gradients(l, random_tensor({2, 3}, kF64, 2));
}

TEST(LayerGradients, Conv2dStridePaddingGroups) {
  Conv2d c(4, 6, Conv2dOptions::square(3).stride_(2).padding_(1).groups_(2));
  expect_gradients(c, random_tensor({2, 4, 7, 6}, kF64, 3));
}

TEST(LayerGradients, Conv2dDilated) {
  Conv2d c(3, 2, Conv2dOptions::square(3).dilation_(2).padding_(2));
  expect_gradients(c, random_tensor({1, 3, 6, 6}, kF64, 4));
}

TEST(LayerGradients, Pooling) {
  // Distinct, well-separated values: no max-pool ties near the sample points.
  Tensor x = random_tensor({2, 2, 6, 6}, kF64, 5);
  std::vector<double> v = testing::as_doubles(x);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 37) % 144) * 0.1;
  x = Tensor::from_vector(v, x.shape());
  MaxPool2d mp(3, 2);
  expect_gradients(mp, x);
  AvgPool2d ap(2, 2, 1);
  expect_gradients(ap, x);
}

TEST(LayerGradients, Activations) {
  // Keep inputs away from ReLU's kink at 0.
  Tensor x = random_tensor({3, 7}, kF64, 6, 0.05, 1.0);
  std::vector<double> v = testing::as_doubles(x);
  for (std::size_t i = 0; i < v.size(); i += 2) v[i] = -v[i];
  x = Tensor::from_vector(v, x.shape());
  ReLU relu;
  expect_gradients(relu, x);
  LeakyReLU leaky(0.1);
  expect_gradients(leaky, x);
  Sigmoid sigmoid;
  expect_gradients(sigmoid, x);
  Tanh tanh_layer;
  expect_gradients(tanh_layer, x);
  Softmax softmax;
  expect_gradients(softmax, x);
}

TEST(LayerGradients, LocalResponseNormAndBatchNorm) {
  LocalResponseNorm lrn(3, 0.5, 0.75, 1.0);  // a large alpha so the normalisation matters
  expect_gradients(lrn, random_tensor({2, 5, 3, 3}, kF64, 7));
  BatchNorm2d bn(3);
  expect_gradients(bn, random_tensor({4, 3, 2, 3}, kF64, 8), 1e-5);
}

TEST(LayerGradients, DropoutWithAFixedMask) {
  Dropout d(0.4);
  Generator g(11);
  d.set_generator(&g);
  // Restore the generator before every forward so each evaluation draws the same mask.
  expect_gradients(d, random_tensor({5, 8}, kF64, 9), 1e-6, [&] { g.set_state({11, 0}); });
}

TEST(LayerGradients, FlattenAndSequential) {
  Sequential net;
  net.emplace<Conv2d>("conv", 2, 3, Conv2dOptions::square(3).padding_(1));
  net.emplace<Tanh>("act");
  net.emplace<AvgPool2d>("pool", 2);
  net.emplace<Flatten>("flat");
  net.emplace<Linear>("fc", 3 * 2 * 2, 4);
  expect_gradients(net, random_tensor({2, 2, 4, 4}, kF64, 10));
}

TEST(Sequential, BackwardParametersGivesTheSameGradientsWithoutTheInputGradient) {
  Generator g(17);
  Sequential net;
  net.emplace<Flatten>("flat");  // parameter-free layers below the first parameterised one
  net.emplace<Linear>("fc1", 12, 5, true, &g);
  net.emplace<Tanh>("act");
  net.emplace<Linear>("fc2", 5, 3, true, &g);
  const Tensor x = random_tensor({4, 3, 2, 2}, DType::kFloat32, 18);
  const Tensor dy = random_tensor({4, 3}, DType::kFloat32, 19);
  net.zero_grad();
  net.forward(x, Mode::kTrain);
  EXPECT_EQ(net.backward(dy).shape(), x.shape());
  std::vector<Tensor> full;
  for (Parameter* p : net.parameters()) full.push_back(p->grad.clone());
  net.zero_grad();
  net.forward(x, Mode::kTrain);
  net.backward_parameters(dy);
  const auto params = net.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(testing::all_equal(params[i]->grad, full[i])) << i;
  }
  EXPECT_TRUE(net.child("fc1").input_grad());  // restored afterwards
  Conv2d c(1, 2, Conv2dOptions::square(3));
  c.set_input_grad(false);
  c.forward(random_tensor({1, 1, 5, 5}, DType::kFloat32, 20), Mode::kTrain);
  EXPECT_FALSE(c.backward(random_tensor({1, 2, 3, 3}, DType::kFloat32, 21)).defined());
}

TEST(Losses, CrossEntropyGradient) {
  CrossEntropyLoss loss;
  const Tensor logits = random_tensor({4, 5}, kF64, 12, -2, 2);
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 4, 2, 2}, {4});
  loss.forward(logits, labels);
  const Tensor grad = loss.backward();
  const Tensor one = Tensor::full({}, 1.0, kF64);
  EXPECT_TRUE(
      check_gradient([&](const Tensor& z) { return loss.forward(z, labels); }, logits, one, grad));
}

TEST(Losses, MseGradientAndValue) {
  MSELoss loss;
  const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  const Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 0}, {3});
  EXPECT_DOUBLE_EQ(loss.forward(x, t).item(), (0 + 4 + 9) / 3.0);
  EXPECT_EQ(testing::as_doubles(loss.backward()), (std::vector<double>{0, 4.0 / 3, 6.0 / 3}));
}

TEST(Layers, BackwardWithoutForwardThrows) {
  Linear l(2, 2);
  EXPECT_THROW(l.backward(Tensor::zeros({1, 2})), ValueError);
  Linear e(2, 2);
  e.forward(Tensor::zeros({1, 2}), Mode::kEval);  // evaluation keeps nothing for backward
  EXPECT_THROW(e.backward(Tensor::zeros({1, 2})), ValueError);
  CrossEntropyLoss ce;
  EXPECT_THROW(ce.backward(), ValueError);
}

TEST(Layers, ShapesAreCheckedWithClearErrors) {
  Linear l(4, 2);
  EXPECT_THROW(l.output_shape({3, 5}), ShapeError);
  Conv2d c(3, 8, Conv2dOptions::square(5));
  EXPECT_EQ(c.output_shape({2, 3, 28, 28}), (Shape{2, 8, 24, 24}));
  EXPECT_THROW(c.output_shape({2, 1, 28, 28}), ShapeError);
  EXPECT_THROW(c.output_shape({2, 3, 4, 4}), ShapeError);  // smaller than the kernel
  EXPECT_THROW(Conv2d(3, 8, Conv2dOptions::square(3).groups_(2)), ValueError);
  EXPECT_THROW(Dropout(1.0), ValueError);
  EXPECT_THROW(BatchNorm2d(0), ValueError);
}

TEST(Layers, EvalModeDropoutIsIdentityAndBatchNormUsesRunningStats) {
  Dropout d(0.5);
  const Tensor x = random_tensor({4, 4}, DType::kFloat32, 13);
  EXPECT_TRUE(testing::all_equal(d.forward(x, Mode::kEval), x));
  BatchNorm2d bn(2);
  const Tensor y = bn.forward(Tensor::full({1, 2, 1, 1}, 3.0), Mode::kEval);
  // Running mean 0, var 1: y = 3 / sqrt(1 + eps).
  EXPECT_NEAR(testing::as_doubles(y)[0], 3.0 / std::sqrt(1 + 1e-5), 1e-6);
}

TEST(Sequential, NamesParametersAndRejectsDuplicates) {
  Sequential net;
  net.emplace<Linear>("fc1", 3, 4);
  net.emplace<ReLU>("relu");
  net.emplace<Linear>("fc2", 4, 2);
  EXPECT_THROW(net.emplace<ReLU>("relu"), ValueError);
  EXPECT_THROW(net.emplace<ReLU>("a.b"), ValueError);
  std::vector<std::string> names;
  for (auto& p : net.named_parameters("")) names.push_back(p.first);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(net.num_parameters(), 3 * 4 + 4 + 4 * 2 + 2);
  EXPECT_EQ(net.output_shape({5, 3}), (Shape{5, 2}));
  EXPECT_THROW(net.child("nope"), ValueError);
}

}  // namespace
}  // namespace cudanet::layers
