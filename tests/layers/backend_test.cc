// Backend selection on the CPU: cudnn is accepted exactly when the build has cuDNN (and a build
// without it says so), CPU tensors run the CPU kernels under either backend, per-layer overrides
// parse and apply, cuDNN ops refuse CPU tensors, and the per-layer profile times every layer.
#include <gtest/gtest.h>

#include "core/config.h"
#include "kernels/cudnn.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/profile.h"
#include "tensor_testing.h"

namespace cudanet::layers {
namespace {

TEST(Backend, CudnnIsAvailableExactlyWhenBuiltWithIt) {
  EXPECT_EQ(kernels::cudnn::available(), CUDANET_WITH_CUDNN != 0);
  Linear l(4, 2);
  if (kernels::cudnn::available()) {
    l.set_backend(Backend::kCudnn);
    EXPECT_EQ(l.backend(), Backend::kCudnn);
    EXPECT_NE(kernels::cudnn::version(), "not built");
  } else {
    try {
      l.set_backend(Backend::kCudnn);
      FAIL() << "a build without cuDNN accepted the cudnn backend";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("built without cuDNN"), std::string::npos) << e.what();
    }
    EXPECT_EQ(l.backend(), Backend::kNative);
    EXPECT_EQ(kernels::cudnn::version(), "not built");
  }
}

TEST(Backend, ParseNamesBothBackendsAndRejectsOthers) {
  EXPECT_EQ(parse_backend("native"), Backend::kNative);
  EXPECT_EQ(parse_backend("cudnn"), Backend::kCudnn);
  EXPECT_STREQ(backend_name(Backend::kCudnn), "cudnn");
  EXPECT_THROW(parse_backend("cuDNN9"), ValueError);
}

// One forward and backward of LeNet-5 on the CPU with `backend`; the output, then every gradient.
std::vector<Tensor> lenet_step(Backend backend) {
  Generator g(5);
  auto net = make_model("lenet5", g);
  net->set_backend(backend);
  const Tensor x = testing::random_tensor({3, 1, 28, 28}, DType::kFloat32, 6);
  const Tensor y = net->forward(x, Mode::kTrain);
  CrossEntropyLoss loss;
  loss.forward(y, Tensor::from_vector(std::vector<std::int64_t>{1, 7, 3}, {3}));
  net->backward(loss.backward());
  std::vector<Tensor> out{y};
  for (Parameter* p : net->parameters()) out.push_back(p->grad);
  return out;
}

TEST(Backend, CpuTensorsRunTheCpuKernelsUnderEitherBackend) {
  if (!kernels::cudnn::available()) GTEST_SKIP() << "this build has no cuDNN";
  const std::vector<Tensor> native = lenet_step(Backend::kNative);
  const std::vector<Tensor> cudnn = lenet_step(Backend::kCudnn);
  ASSERT_EQ(native.size(), cudnn.size());
  for (std::size_t i = 0; i < native.size(); ++i) {
    EXPECT_TRUE(testing::all_equal(cudnn[i], native[i])) << "tensor " << i;
  }
}

TEST(Backend, LayerOverridesApplyToNamedLayersOnly) {
  Generator g(1);
  auto net = make_model("lenet5", g);
  set_layer_backends(*net, "");  // nothing
  EXPECT_THROW(set_layer_backends(*net, "c9=native"), ValueError);
  EXPECT_THROW(set_layer_backends(*net, "c1=fast"), ValueError);
  EXPECT_THROW(set_layer_backends(*net, "c1"), ValueError);
  EXPECT_THROW(set_layer_backends(*net, "=native"), ValueError);
  if (!kernels::cudnn::available()) {
    EXPECT_THROW(set_layer_backends(*net, "c1=cudnn"), ValueError);
    return;
  }
  // A bad item leaves every layer as it was.
  EXPECT_THROW(set_layer_backends(*net, "c1=cudnn,nope=native"), ValueError);
  EXPECT_EQ(net->child("c1").backend(), Backend::kNative);
  net->set_backend(Backend::kCudnn);
  set_layer_backends(*net, "c1=native,f6=native");
  EXPECT_EQ(net->child("c1").backend(), Backend::kNative);
  EXPECT_EQ(net->child("f6").backend(), Backend::kNative);
  EXPECT_EQ(net->child("c3").backend(), Backend::kCudnn);
  EXPECT_EQ(net->child("output").backend(), Backend::kCudnn);
}

TEST(Backend, CudnnOpsRefuseCpuTensorsOrSayCudnnIsMissing) {
  const Tensor x = testing::random_tensor({2, 3}, DType::kFloat32, 1);
  // With cuDNN: CPU tensors are refused; without: every op says the build lacks cuDNN.
  const char* expected = kernels::cudnn::available() ? "CUDA tensor" : "built without cuDNN";
  try {
    kernels::cudnn::softmax_forward(x);
    FAIL() << "cudnn::softmax_forward accepted a CPU tensor";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  EXPECT_THROW(kernels::cudnn::conv2d_backward_bias(
                   testing::random_tensor({1, 2, 3, 3}, DType::kFloat32, 2)),
               ValueError);
}

TEST(Profile, TimesEveryLayerLossAndUpdateOnTheCpu) {
  Generator g(2);
  auto net = make_model("lenet5", g);
  const Tensor x = testing::random_tensor({4, 1, 28, 28}, DType::kFloat32, 3);
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3}, {4});
  int updates = 0;
  const StepProfile p = profile_training_step(*net, x, y, 2, 1, [&] { ++updates; });
  EXPECT_EQ(updates, 3);  // one warm-up step and two timed ones
  ASSERT_EQ(p.rows.size(), net->size() + 2);
  EXPECT_EQ(p.rows.front().name, "c1");
  EXPECT_EQ(p.rows.front().type, "Conv2d");
  EXPECT_EQ(p.rows[net->size()].name, "loss");
  EXPECT_EQ(p.rows.back().name, "optimizer");
  EXPECT_GT(p.rows.front().forward_ms, 0.0);
  EXPECT_EQ(p.rows.front().backward_ms > 0.0, true);  // the filter gradient of c1
  EXPECT_GT(p.total_ms(), p.rows.front().forward_ms);
  const std::string t = p.table();
  EXPECT_NE(t.find("c5"), std::string::npos) << t;
  EXPECT_NE(t.find("share"), std::string::npos) << t;
  EXPECT_NE(t.find("100.0%"), std::string::npos) << t;
  EXPECT_THROW(profile_training_step(*net, x, y, 0, 0, {}), ValueError);
  // Without an update there is no optimizer row.
  EXPECT_EQ(profile_training_step(*net, x, y, 1, 0, {}).rows.size(), net->size() + 1);
}

}  // namespace
}  // namespace cudanet::layers
