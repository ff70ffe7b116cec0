// The memory plan on a GPU (docs/memory.md): one AlexNet training step (with dropout) peaks lower
// in the caching allocator's statistics with the plan than without, trains to bitwise the same
// parameters (native kernels, deterministic mode), and after warm-up makes no device malloc,
// eager or replayed from a CUDA graph.
#include <cstdio>
#include <gtest/gtest.h>

#include "core/cuda_allocator.h"
#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "tensor_testing.h"
#include "test_util.h"
#include "train/gpu/steady_state.h"
#include "train/train_step.h"

namespace cudanet::train {
namespace {

constexpr Device kGpu = Device::cuda(0);
constexpr std::int64_t kBatch = 8, kClasses = 10;

struct Net {
  std::unique_ptr<layers::Sequential> model;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<Generator> dropout_rng;
};

Net make_net(bool plan, layers::Backend backend) {
  Generator g(7);
  layers::ModelOptions o;
  o.num_classes = kClasses;  // dropout 0.5, as trained
  Net n;
  n.model = layers::make_model("alexnet", g, o);
  n.model->to(kGpu);
  n.model->set_backend(backend);
  n.model->set_memory_plan(plan);
  n.dropout_rng = std::make_unique<Generator>(11);
  for (std::size_t i = 0; i < n.model->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&n.model->at(i))) {
      d->set_generator(n.dropout_rng.get());
    }
  }
  kernels::SgdParams p;
  p.lr = 0.01;
  p.momentum = 0.9;
  p.weight_decay = 5e-4;
  n.sgd = std::make_unique<Sgd>(n.model->named_parameters(""), p);
  return n;
}

Tensor images(std::uint64_t seed) {
  return testing::random_tensor({kBatch, 3, 227, 227}, DType::kFloat32, seed).to(kGpu);
}

Tensor labels() {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < kBatch; ++i) v.push_back(i % kClasses);
  return Tensor::from_vector(v, {kBatch}, kGpu);
}

// The allocator's peak over one eager step above what was allocated before it, starting with
// nothing saved (the previous step's tensors released in both configurations, so the comparison
// is of the step itself).
std::int64_t step_peak(Net& n, TrainStep& step, const Tensor& x, const Tensor& y) {
  n.model->release_saved();
  current_stream(kGpu).synchronize();
  cuda::reset_peak_memory_stats(0);
  const std::int64_t base = cuda::memory_stats(0).allocated_bytes.current;
  step.run(x, y).loss.item();
  return cuda::memory_stats(0).allocated_bytes.peak - base;
}

TEST(MemoryPlanGpu, AlexNetStepPeaksLowerWithThePlan) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed: no allocator statistics";
  std::vector<layers::Backend> backends = {layers::Backend::kNative};
  if (kernels::cudnn::available()) backends.push_back(layers::Backend::kCudnn);
  const Tensor x = images(1), y = labels();
  for (layers::Backend backend : backends) {
    SCOPED_TRACE(layers::backend_name(backend));
    std::int64_t peak[2] = {0, 0};
    for (bool plan : {false, true}) {
      Net n = make_net(plan, backend);
      TrainStep step(*n.model, *n.sgd, {false, 1});
      step.run(x, y).loss.item();  // warm-up: cuDNN algorithms, cached blocks
      peak[plan ? 1 : 0] = step_peak(n, step, x, y);
    }
    // In place, relu1 shares conv1's output with lrn1: at least that buffer is never allocated
    // (relu2 and relu3 save theirs too, and the released activations lower the backward's peak).
    const std::int64_t conv1_out = kBatch * 96 * 55 * 55 * 4;
    EXPECT_LE(peak[1] + conv1_out, peak[0])
        << "peak without the plan " << peak[0] << " B, with it " << peak[1] << " B";
    std::printf(
        "[ memory plan ] alexnet batch %lld %s: step peak %.1f MiB without, %.1f MiB with\n",
        static_cast<long long>(kBatch), layers::backend_name(backend),
        static_cast<double>(peak[0]) / (1 << 20), static_cast<double>(peak[1]) / (1 << 20));
  }
}

TEST(MemoryPlanGpu, AlexNetTrainsToBitwiseEqualParameters) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  kernels::set_deterministic(true);
  Net plain = make_net(false, layers::Backend::kNative);
  Net planned = make_net(true, layers::Backend::kNative);
  TrainStep a(*plain.model, *plain.sgd, {false, 1});
  TrainStep b(*planned.model, *planned.sgd, {false, 1});
  const Tensor y = labels();
  for (int s = 0; s < 3; ++s) {
    const Tensor x = images(20 + static_cast<std::uint64_t>(s));
    const StepOutput oa = a.run(x, y);
    const StepOutput ob = b.run(x, y);
    EXPECT_TRUE(testing::all_equal(ob.logits, oa.logits)) << "step " << s;
    EXPECT_EQ(ob.loss.item(), oa.loss.item()) << "step " << s;
  }
  const auto pa = plain.model->named_parameters("");
  const auto pb = planned.model->named_parameters("");
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(testing::all_equal(pb[i].second->value, pa[i].second->value)) << pa[i].first;
  }
  kernels::set_deterministic(false);
}

TEST(MemoryPlanGpu, NoDeviceMallocsAfterWarmupWithDropout) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed (CUDANET_NO_CACHING)";
  const Tensor x = images(3), y = labels();
  for (bool use_graph : {false, true}) {
    Net n = make_net(true, layers::Backend::kNative);
    TrainStep step(*n.model, *n.sgd, {use_graph, 2});
    testing::expect_no_device_mallocs_after_warmup(step, x, y, 4, 4,
                                                   use_graph ? "graphed" : "eager");
  }
}

}  // namespace
}  // namespace cudanet::train
