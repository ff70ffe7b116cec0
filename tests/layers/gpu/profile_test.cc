// On the GPU: the per-layer profile times every layer with CUDA events, and training steps make no
// device mallocs once warm (the caching allocator serves every tensor, cuDNN workspaces included),
// under both backends.
#include "layers/profile.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/cuda_allocator.h"
#include "kernels/cudnn.h"
#include "kernels/optimizer.h"
#include "layers/models.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::layers {
namespace {

const Device kGpu = Device::cuda(0);

struct Fixture {
  std::unique_ptr<Sequential> net;
  Tensor x, labels;
};

Fixture lenet(Backend backend, std::int64_t batch) {
  Generator g(3);
  Fixture f{make_model("lenet5", g),
            testing::random_tensor({batch, 1, 28, 28}, DType::kFloat32, 4).to(kGpu), Tensor()};
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 10);
  f.labels = Tensor::from_vector(labels, {batch}).to(kGpu);
  f.net->to(kGpu);
  f.net->set_backend(backend);
  return f;
}

std::vector<Backend> backends() {
  if (kernels::cudnn::available()) return {Backend::kNative, Backend::kCudnn};
  return {Backend::kNative};
}

TEST(ProfileGpu, TimesEveryLayerWithCudaEvents) {
  CUDANET_REQUIRE_GPU();
  for (Backend b : backends()) {
    SCOPED_TRACE(backend_name(b));
    Fixture f = lenet(b, 32);
    const StepProfile p = profile_training_step(*f.net, f.x, f.labels, 2, 1, {});
    EXPECT_NE(p.device.find("CUDA events"), std::string::npos) << p.device;
    ASSERT_EQ(p.rows.size(), f.net->size() + 1);
    EXPECT_GT(p.rows.front().forward_ms, 0.0);
    EXPECT_GT(p.rows.front().backward_ms, 0.0);
    EXPECT_GT(p.total_ms(), 0.0);
  }
}

TEST(ProfileGpu, WarmTrainingStepsMakeNoDeviceMallocs) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "CUDANET_NO_CACHING=1: every tensor is a malloc";
  for (Backend b : backends()) {
    SCOPED_TRACE(backend_name(b));
    Fixture f = lenet(b, 64);
    kernels::SgdParams sgd;
    sgd.momentum = 0.9;
    std::vector<Tensor> momentum;
    for (Parameter* p : f.net->parameters())
      momentum.push_back(Tensor::zeros(p->value.shape()).to(kGpu));
    const auto update = [&] {
      std::size_t i = 0;
      for (Parameter* p : f.net->parameters()) {
        kernels::sgd_update(p->value, p->grad, &momentum[i++], sgd);
      }
    };
    profile_training_step(*f.net, f.x, f.labels, 1, 2, update);  // warm
    const std::int64_t before = cuda::memory_stats(0).num_backend_mallocs;
    profile_training_step(*f.net, f.x, f.labels, 3, 0, update);
    EXPECT_EQ(cuda::memory_stats(0).num_backend_mallocs, before);
  }
}

}  // namespace
}  // namespace cudanet::layers
