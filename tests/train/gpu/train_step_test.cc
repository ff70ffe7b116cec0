// TrainStep on a GPU: a step replayed from a CUDA graph equals the eager step, and after warm-up
// training makes no device mallocs at all (eager or graphed), by the allocator's statistics.
#include "train/train_step.h"

#include <cmath>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "tensor_testing.h"
#include "test_util.h"
#include "train/gpu/steady_state.h"

namespace cudanet::train {
namespace {

struct Net {
  std::unique_ptr<layers::Sequential> model;
  std::unique_ptr<Sgd> sgd;
};

// A model small enough for the emulator with two dropout layers (the zoo's MLP has none).
constexpr const char* kDropoutMlp = "dropout-mlp";

std::unique_ptr<layers::Sequential> make_dropout_mlp(Generator& g, std::int64_t classes) {
  auto m = std::make_unique<layers::Sequential>();
  m->emplace<layers::Flatten>("flatten");
  m->emplace<layers::Linear>("fc1", 28 * 28, 64, true, &g);
  m->emplace<layers::ReLU>("relu1");
  m->emplace<layers::Dropout>("drop1", 0.5);
  m->emplace<layers::Linear>("fc2", 64, 32, true, &g);
  m->emplace<layers::ReLU>("relu2");
  m->emplace<layers::Dropout>("drop2", 0.5);
  m->emplace<layers::Linear>("fc3", 32, classes, true, &g);
  return m;
}

// `name` (a zoo model or kDropoutMlp) without dropout, or with dropout drawing from
// `dropout_rng`.
Net make_net(const std::string& name, std::int64_t classes, Generator* dropout_rng = nullptr,
             layers::Backend backend = layers::Backend::kNative) {
  Generator g(7);
  layers::ModelOptions o;
  o.num_classes = classes;
  if (dropout_rng == nullptr) o.dropout = 0;
  Net n;
  n.model = name == kDropoutMlp ? make_dropout_mlp(g, classes) : layers::make_model(name, g, o);
  for (std::size_t i = 0; i < n.model->size(); ++i) {
    if (auto* d = dynamic_cast<layers::Dropout*>(&n.model->at(i))) d->set_generator(dropout_rng);
  }
  n.model->to(Device::cuda(0));
  n.model->set_backend(backend);
  kernels::SgdParams p;
  p.lr = 0.01;
  p.momentum = 0.9;
  p.weight_decay = 5e-4;
  n.sgd = std::make_unique<Sgd>(n.model->named_parameters(""), p);
  return n;
}

struct Data {
  Tensor images, labels;
};

Data batch(const std::string& name, std::int64_t b, std::int64_t classes, std::uint64_t seed) {
  Shape s = layers::model_input_shape(name == kDropoutMlp ? "mlp" : name);
  s.insert(s.begin(), b);
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < b; ++i)
    labels.push_back(static_cast<std::int64_t>((seed + i) % classes));
  return {testing::random_tensor(s, DType::kFloat32, seed).to(Device::cuda(0)),
          Tensor::from_vector(labels, {b}, Device::cuda(0))};
}

void expect_same_parameters(Net& a, Net& b, int step) {
  auto pa = a.model->named_parameters("");
  auto pb = b.model->named_parameters("");
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(testing::all_close(pb[i].second->value.to(Device::cpu()),
                                   pa[i].second->value.to(Device::cpu()), {1e-6, 1e-5, 1e-6}))
        << pa[i].first << " after step " << step;
  }
}

void graph_equals_eager(const std::string& name, std::int64_t b, std::int64_t classes,
                        layers::Backend backend = layers::Backend::kNative) {
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed: TrainStep runs eagerly";
  kernels::set_deterministic(true);
  Net eager = make_net(name, classes, nullptr, backend),
      graphed = make_net(name, classes, nullptr, backend);
  TrainStep e(*eager.model, *eager.sgd, {false, 2});
  TrainStep g(*graphed.model, *graphed.sgd, {true, 2});
  for (int step = 0; step < 6; ++step) {
    if (step == 4) {  // a new learning rate without invalidate(): the graph step captures again
      eager.sgd->set_lr(0.005);
      graphed.sgd->set_lr(0.005);
    }
    if (step == 5) cuda::empty_cache(0);  // must not release the graph's segments
    const Data d = batch(name, b, classes, 100 + static_cast<std::uint64_t>(step));
    const StepOutput oe = e.run(d.images, d.labels);
    const StepOutput og = g.run(d.images, d.labels);
    EXPECT_NEAR(og.loss.item(), oe.loss.item(), 1e-5 * std::abs(oe.loss.item()) + 1e-6)
        << name << " step " << step;
    EXPECT_TRUE(testing::all_close(og.logits.to(Device::cpu()), oe.logits.to(Device::cpu()),
                                   {1e-5, 1e-4, 1e-5}))
        << name << " step " << step;
    expect_same_parameters(eager, graphed, step);
  }
  EXPECT_EQ(g.captures(), 2);                           // steps 3 and 5
  EXPECT_EQ(g.replays(), 4);                            // steps 3..6
  EXPECT_EQ(graphed.sgd->steps(), eager.sgd->steps());  // replays count as optimizer steps
  // A partial batch runs eagerly, and the graph goes on afterwards.
  const Data small = batch(name, b - 1, classes, 7);
  e.run(small.images, small.labels);
  g.run(small.images, small.labels);
  const Data d = batch(name, b, classes, 8);
  e.run(d.images, d.labels);
  g.run(d.images, d.labels);
  EXPECT_EQ(g.replays(), 5);
  EXPECT_EQ(graphed.sgd->steps(), 8);
  expect_same_parameters(eager, graphed, 8);
  kernels::set_deterministic(false);
}

TEST(TrainStep, GraphReplayEqualsEagerStepLeNet) {
  CUDANET_REQUIRE_GPU();
  graph_equals_eager("lenet5", 16, 10);
}

TEST(TrainStep, GraphReplayEqualsEagerStepAlexNet) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  graph_equals_eager("alexnet", 4, 10);  // conv, LRN, pooling, linear layers
}

// The cuDNN backend inside a capture: convolution (algorithm chosen and workspace allocated in
// the warm-up steps), pooling, LRN and activations through cuDNN handles bound to the step's
// stream.
TEST(TrainStep, GraphReplayEqualsEagerStepLeNetCudnn) {
#if !CUDANET_WITH_CUDNN
  GTEST_SKIP() << "this build has no cuDNN (CUDANET_WITH_CUDNN=0)";
#endif
  CUDANET_REQUIRE_GPU();
  graph_equals_eager("lenet5", 16, 10, layers::Backend::kCudnn);
}

TEST(TrainStep, GraphReplayEqualsEagerStepAlexNetCudnn) {
#if !CUDANET_WITH_CUDNN
  GTEST_SKIP() << "this build has no cuDNN (CUDANET_WITH_CUDNN=0)";
#endif
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  graph_equals_eager("alexnet", 4, 10, layers::Backend::kCudnn);
}

// Replays draw fresh dropout masks: exactly those of the same steps run eagerly (one generator
// per network, same seed), also across a partial batch and a reseeded generator.
void graph_replays_draw_the_eager_dropout_masks(const std::string& name) {
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed: TrainStep runs eagerly";
  kernels::set_deterministic(true);
  Generator rng_e(99), rng_g(99);
  Net eager = make_net(name, 10, &rng_e), graphed = make_net(name, 10, &rng_g);
  TrainStep e(*eager.model, *eager.sgd, {false, 1});
  TrainStep g(*graphed.model, *graphed.sgd, {true, 1});
  for (int step = 0; step < 7; ++step) {
    if (step == 5) {  // a new seed: the graph captures again
      rng_e.manual_seed(5);
      rng_g.manual_seed(5);
    }
    const std::int64_t b = step == 3 ? 3 : 4;  // step 3: a partial batch, eager in both
    const Data d = batch(name, b, 10, 200 + static_cast<std::uint64_t>(step));
    const StepOutput oe = e.run(d.images, d.labels);
    const StepOutput og = g.run(d.images, d.labels);
    EXPECT_NEAR(og.loss.item(), oe.loss.item(), 1e-5 * std::abs(oe.loss.item()) + 1e-6)
        << name << " step " << step;
    expect_same_parameters(eager, graphed, step);
    EXPECT_EQ(rng_g.state(), rng_e.state()) << name << " step " << step;
  }
  EXPECT_EQ(g.captures(), 2);  // steps 2 and 6 (1-based)
  EXPECT_EQ(g.replays(), 5);   // steps 2, 3, 5, 6, 7
  kernels::set_deterministic(false);
}

TEST(TrainStep, GraphReplaysDrawTheEagerDropoutMasks) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  graph_replays_draw_the_eager_dropout_masks("alexnet");
}

// The same on two dropout layers of a small MLP: the emulator runs it in CI.
TEST(TrainStep, GraphReplaysDrawTheEagerDropoutMasksMlp) {
  CUDANET_REQUIRE_GPU();
  graph_replays_draw_the_eager_dropout_masks(kDropoutMlp);
}

TEST(TrainStep, SynchronisedLaunchesRunEagerly) {
  CUDANET_REQUIRE_GPU();
  const bool was = cuda::sync_launches();
  cuda::set_sync_launches(true);
  Net n = make_net("lenet5", 10);
  TrainStep step(*n.model, *n.sgd, {true, 1});
  const Data d = batch("lenet5", 8, 10, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(step.run(d.images, d.labels).loss.item()));
  cuda::set_sync_launches(was);
  EXPECT_EQ(step.captures(), 0);
  EXPECT_EQ(n.sgd->steps(), 3);
}

// A short first batch does not fix the graph's shape: the full batches after it are captured
// and replayed. After the capture, a batch of another shape runs eagerly.
TEST(TrainStep, AShortFirstBatchDoesNotKeepFullBatchesEager) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed (CUDANET_NO_CACHING)";
  Net n = make_net("lenet5", 10);
  TrainStep step(*n.model, *n.sgd, {true, 1});
  const Data short_batch = batch("lenet5", 5, 10, 4), full = batch("lenet5", 8, 10, 5);
  EXPECT_TRUE(std::isfinite(step.run(short_batch.images, short_batch.labels).loss.item()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(std::isfinite(step.run(full.images, full.labels).loss.item()));
  }
  EXPECT_EQ(step.captures(), 1);
  EXPECT_GE(step.replays(), 2);
  const std::int64_t replays = step.replays();
  EXPECT_TRUE(std::isfinite(step.run(short_batch.images, short_batch.labels).loss.item()));
  EXPECT_EQ(step.captures(), 1);
  EXPECT_EQ(step.replays(), replays) << "the short batch after the capture runs eagerly";
  EXPECT_EQ(n.sgd->steps(), 6);
}

// Epochs of two full batches and a partial one, with a warm-up of 2 steps: the partial batch at
// the end of the first epoch must not restart the warm-up (the graph would never be captured),
// and the second epoch's first full batch captures.
TEST(TrainStep, APartialLastBatchBeforeTheCaptureKeepsTheWarmup) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed (CUDANET_NO_CACHING)";
  Net n = make_net("lenet5", 10);
  TrainStep step(*n.model, *n.sgd, {true, 2});
  const Data full = batch("lenet5", 8, 10, 6), partial = batch("lenet5", 3, 10, 7);
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (const Data* d : {&full, &full, &partial}) {
      EXPECT_TRUE(std::isfinite(step.run(d->images, d->labels).loss.item()));
    }
  }
  EXPECT_EQ(step.captures(), 1);
  EXPECT_EQ(step.replays(), 2);  // the second epoch's full batches
}

TEST(TrainStep, ZeroDeviceMallocsPerStepAfterWarmup) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed (CUDANET_NO_CACHING)";
  for (bool use_graph : {false, true}) {
    Net n = make_net("alexnet-owt", 10);
    TrainStep step(*n.model, *n.sgd, {use_graph, 2});
    const Data d = batch("alexnet-owt", 8, 10, 1);
    testing::expect_no_device_mallocs_after_warmup(step, d.images, d.labels, 4, 5,
                                                   use_graph ? "graphed" : "eager");
  }
}

// The same at LeNet-5 size, on both backends (cuDNN's workspaces and cuBLAS's included): small
// enough for the emulator, so CI checks it too.
TEST(TrainStep, ZeroDeviceMallocsPerStepAfterWarmupLeNet) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed (CUDANET_NO_CACHING)";
  std::vector<layers::Backend> backends = {layers::Backend::kNative};
#if CUDANET_WITH_CUDNN
  backends.push_back(layers::Backend::kCudnn);
#endif
  for (layers::Backend backend : backends) {
    for (bool use_graph : {false, true}) {
      Net n = make_net("lenet5", 10, nullptr, backend);
      TrainStep step(*n.model, *n.sgd, {use_graph, 2});
      const Data d = batch("lenet5", 16, 10, 2);
      testing::expect_no_device_mallocs_after_warmup(
          step, d.images, d.labels, 4, 4,
          std::string(layers::backend_name(backend)) + (use_graph ? " graphed" : " eager"));
    }
  }
}

}  // namespace
}  // namespace cudanet::train
