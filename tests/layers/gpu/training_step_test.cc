// One full training step (forward, backward, SGD update, dropout through the shared RNG) on the GPU
// equals the same step on the CPU, for LeNet-5 and for a small network with every AlexNet layer.
#include <gtest/gtest.h>

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

// Runs one SGD step of `net` on (x, labels) on `device`; returns the loss.
double train_step(Sequential& net, const Tensor& x, const Tensor& labels, Device device,
                  Generator& dropout_rng) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (auto* d = dynamic_cast<Dropout*>(&net.at(i))) d->set_generator(&dropout_rng);
  }
  net.to(device);
  net.zero_grad();
  CrossEntropyLoss loss;
  const double l = loss.forward(net.forward(x.to(device), Mode::kTrain), labels.to(device)).item();
  net.backward(loss.backward());
  kernels::SgdParams sgd;
  sgd.lr = 0.05;
  sgd.momentum = 0.0;
  sgd.weight_decay = 5e-4;
  for (Parameter* p : net.parameters()) kernels::sgd_update(p->value, p->grad, nullptr, sgd);
  return l;
}

void expect_same_step(const std::function<std::unique_ptr<Sequential>()>& build, const Shape& in,
                      std::int64_t classes) {
  auto cpu = build();
  auto gpu = build();
  const Tensor x = testing::random_tensor(in, DType::kFloat32, 31);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(in[0]));
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::int64_t>(i) % classes;
  const Tensor y = Tensor::from_vector(labels, {in[0]});
  Generator cpu_rng(77), gpu_rng(77);
  const double cpu_loss = train_step(*cpu, x, y, Device::cpu(), cpu_rng);
  const double gpu_loss = train_step(*gpu, x, y, Device::cuda(0), gpu_rng);
  EXPECT_NEAR(gpu_loss, cpu_loss, 1e-4 * (1 + std::fabs(cpu_loss)));
  const auto cp = cpu->named_parameters("");
  const auto gp = gpu->named_parameters("");
  ASSERT_EQ(cp.size(), gp.size());
  for (std::size_t i = 0; i < cp.size(); ++i) {
    EXPECT_TRUE(testing::all_close(gp[i].second->value, cp[i].second->value,
                                   testing::Tolerance{2e-5, 1e-3, 1e-4}))
        << cp[i].first;
    EXPECT_TRUE(testing::all_close(gp[i].second->grad, cp[i].second->grad,
                                   testing::Tolerance{1e-5, 2e-3, 1e-3}))
        << cp[i].first << ".grad";
  }
}

TEST(TrainingStepGpu, LeNet5MatchesCpu) {
  CUDANET_REQUIRE_GPU();
  expect_same_step(
      [] {
        Generator g(1);
        return make_model("lenet5", g);
      },
      {8, 1, 28, 28}, 10);
}

TEST(TrainingStepGpu, AlexNetStyleLayersWithDropoutMatchCpu) {
  CUDANET_REQUIRE_GPU();
  expect_same_step(
      [] {
        Generator g(2);
        auto m = std::make_unique<Sequential>();
        m->emplace<Conv2d>("conv1", 3, 8, Conv2dOptions::square(5).stride_(2), &g);
        m->emplace<ReLU>("relu1");
        m->emplace<LocalResponseNorm>("lrn1", 5, 1e-4, 0.75, 2.0);
        m->emplace<MaxPool2d>("pool1", 3, 2);
        m->emplace<Conv2d>("conv2", 8, 12, Conv2dOptions::square(3).padding_(1), &g);
        m->emplace<ReLU>("relu2");
        m->emplace<Flatten>("flatten");
        m->emplace<Linear>("fc1", 12 * 3 * 3, 32, true, &g);
        m->emplace<ReLU>("relu3");
        m->emplace<Dropout>("drop", 0.5);
        m->emplace<Linear>("fc2", 32, 5, true, &g);
        return m;
      },
      {4, 3, 17, 17}, 5);
}

}  // namespace
}  // namespace cudanet::layers
