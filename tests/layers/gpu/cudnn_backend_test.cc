// The native and cuDNN backends agree on whole training steps (forward, backward, SGD update) on
// the GPU: LeNet-5, the seed's AlexNet and a network with every layer kind (batch norm, average
// pooling, softmax, sigmoid, tanh, and the fallbacks: leaky ReLU, an even-sized LRN). Strict FP32
// on both sides; dropout masks come from the same generator state.
#include <algorithm>
#include <cmath>
#include <functional>
#include <gtest/gtest.h>

#include "core/config.h"
#include "kernels/cudnn.h"
#include "kernels/gemm.h"
#include "kernels/optimizer.h"
#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::layers {
namespace {

#if CUDANET_WITH_CUDNN
#define REQUIRE_CUDNN() CUDANET_REQUIRE_GPU()
#else
#define REQUIRE_CUDNN() GTEST_SKIP() << "this build has no cuDNN (CUDANET_WITH_CUDNN=0)"
#endif

using Builder = std::function<std::unique_ptr<Sequential>()>;

// One SGD step of a fresh network from `build` with `backend` (and per-layer `overrides`) on the
// GPU; returns the network (parameters after the step, gradients of the step) and the loss.
std::pair<std::unique_ptr<Sequential>, double> step(const Builder& build, Backend backend,
                                                    const std::string& overrides, const Tensor& x,
                                                    const Tensor& labels) {
  auto net = build();
  Generator dropout_rng(77);
  for (std::size_t i = 0; i < net->size(); ++i) {
    if (auto* d = dynamic_cast<Dropout*>(&net->at(i))) d->set_generator(&dropout_rng);
  }
  net->to(Device::cuda(0));
  net->set_backend(backend);
  set_layer_backends(*net, overrides);
  net->zero_grad();
  CrossEntropyLoss loss;
  const Tensor out = net->forward(x.to(Device::cuda(0)), Mode::kTrain);
  const double l = loss.forward(out, labels.to(Device::cuda(0))).item();
  net->backward_parameters(loss.backward());
  kernels::SgdParams sgd;
  sgd.lr = 0.05;
  sgd.weight_decay = 5e-4;
  for (Parameter* p : net->parameters()) kernels::sgd_update(p->value, p->grad, nullptr, sgd);
  return {std::move(net), l};
}

// Tolerance relative to the tensor's largest element: the backends sum in different orders.
testing::Tolerance scaled(const Tensor& ref, double rel) {
  double peak = 0;
  for (double v : testing::as_doubles(ref)) peak = std::max(peak, std::fabs(v));
  return {std::max(1e-7, rel * peak), rel, rel};
}

void expect_backends_agree(const Builder& build, const Shape& in, std::int64_t classes, double rel,
                           const std::string& overrides = "") {
  const bool tf32 = kernels::allow_tf32();
  kernels::set_allow_tf32(false);
  const Tensor x = testing::random_tensor(in, DType::kFloat32, 31);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(in[0]));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<std::int64_t>(i) % classes;
  }
  const Tensor y = Tensor::from_vector(labels, {in[0]});
  auto native = step(build, Backend::kNative, "", x, y);
  auto cudnn = step(build, Backend::kCudnn, overrides, x, y);
  kernels::set_allow_tf32(tf32);
  EXPECT_NEAR(cudnn.second, native.second, rel * (1 + std::fabs(native.second)));
  const auto np = native.first->named_parameters("");
  const auto cp = cudnn.first->named_parameters("");
  ASSERT_EQ(np.size(), cp.size());
  for (std::size_t i = 0; i < np.size(); ++i) {
    const Tensor nv = np[i].second->value.to(Device::cpu());
    const Tensor ng = np[i].second->grad.to(Device::cpu());
    EXPECT_TRUE(testing::all_close(cp[i].second->value.to(Device::cpu()), nv, scaled(nv, rel)))
        << np[i].first;
    EXPECT_TRUE(testing::all_close(cp[i].second->grad.to(Device::cpu()), ng, scaled(ng, rel)))
        << np[i].first << ".grad";
  }
}

TEST(CudnnBackend, LeNet5TrainingStepMatchesNative) {
  REQUIRE_CUDNN();
  expect_backends_agree(
      [] {
        Generator g(1);
        return make_model("lenet5", g);
      },
      {16, 1, 28, 28}, 10, 1e-4);
}

TEST(CudnnBackend, PerLayerOverridesStillMatchNative) {
  REQUIRE_CUDNN();
  expect_backends_agree(
      [] {
        Generator g(1);
        return make_model("lenet5", g);
      },
      {8, 1, 28, 28}, 10, 1e-4, "c1=native,relu3=native,f6=native");
}

TEST(CudnnBackend, AlexNetTrainingStepMatchesNative) {
  REQUIRE_CUDNN();
  expect_backends_agree(
      [] {
        Generator g(2);
        return make_model("alexnet", g);
      },
      {2, 3, 227, 227}, 1000, 5e-4);
}

TEST(CudnnBackend, AlexNetOwtTrainingStepMatchesNative) {
  REQUIRE_CUDNN();
  expect_backends_agree(
      [] {
        Generator g(3);
        return make_model("alexnet-owt", g);
      },
      {2, 3, 224, 224}, 1000, 5e-4);
}

TEST(CudnnBackend, EveryLayerKindMatchesNative) {
  REQUIRE_CUDNN();
  expect_backends_agree(
      [] {
        Generator g(4);
        auto m = std::make_unique<Sequential>();
        // No bias before batch norm: its gradient would be zero but for rounding (the mean
        // subtraction cancels it), and two backends' rounding noise cannot be compared.
        m->emplace<Conv2d>("conv1", 3, 8, Conv2dOptions::square(3).padding_(1).bias_(false), &g);
        m->emplace<BatchNorm2d>("bn1", 8);
        m->emplace<Tanh>("tanh1");
        m->emplace<LocalResponseNorm>("lrn_even", 4, 1e-2, 0.75, 2.0);  // native fallback
        m->emplace<AvgPool2d>("pool1", 3, 2, 1);
        m->emplace<Conv2d>("conv2", 8, 12, Conv2dOptions::square(3).groups_(4).dilation_(2), &g);
        m->emplace<LeakyReLU>("leaky", 0.1);  // native fallback
        m->emplace<LocalResponseNorm>("lrn", 3, 1e-2, 0.75, 1.0);
        m->emplace<MaxPool2d>("pool2", 2);
        m->emplace<Flatten>("flatten");
        m->emplace<Linear>("fc1", 12, 16, true, &g);
        m->emplace<Sigmoid>("sigmoid");
        m->emplace<Dropout>("drop", 0.5);
        m->emplace<Linear>("fc2", 16, 5, true, &g);
        m->emplace<Softmax>("softmax");  // followed by cross-entropy: unusual, but a valid step
        return m;
      },
      {6, 3, 11, 11}, 5, 2e-4);
}

}  // namespace
}  // namespace cudanet::layers
