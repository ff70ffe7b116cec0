// The trainer on the GPU (hand-written kernels): --deterministic runs are bitwise repeatable and
// an interrupted, resumed run ends exactly where the uninterrupted one does; anomaly detection
// names the layer on the device too; and running out of device memory is reported with the batch
// size and a smaller one to try, after which the device trains again.
#include <cmath>
#include <filesystem>
#include <gtest/gtest.h>
#include <limits>
#include <sstream>
#include <vector>

#include "core/allocator.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "test_util.h"
#include "train/anomaly.h"
#include "train/idx.h"
#include "train/safetensors.h"
#include "train/trainer.h"
#include "train/training_scratch.h"

namespace cudanet::train {
namespace {

// Larger batches than the CPU tests (the OOM test expects batch 64).
struct Scratch : testing::TrainingScratch {
  explicit Scratch(const std::string& model)
      : testing::TrainingScratch(model, {"cuda", "sgd", 600, 100, 64, 512, 5}) {}
};

TrainResult run(const TrainConfig& c) {
  return testing::run_quietly(c);
}

TEST(TrainerGpu, DeterministicRunsAreBitwiseIdentical) {
  CUDANET_REQUIRE_GPU();
  for (const char* model : {"lenet5", "mlp"}) {
    Scratch a(model), b(model);
    const TrainResult ra = run(a.config);
    const TrainResult rb = run(b.config);
    EXPECT_EQ(a.checkpoint(), b.checkpoint()) << model;
    EXPECT_EQ(ra.test.loss, rb.test.loss) << model;
  }
}

TEST(TrainerGpu, InterruptedAndResumedRunEqualsTheUninterruptedOne) {
  CUDANET_REQUIRE_GPU();
  Scratch straight("lenet5"), resumed("lenet5");
  const TrainResult rs = run(straight.config);
  TrainConfig first = resumed.config;
  first.stop_after = 1;
  run(first);
  TrainConfig second = resumed.config;
  second.resume = true;
  const TrainResult rr = run(second);
  EXPECT_EQ(straight.checkpoint(), resumed.checkpoint());
  EXPECT_EQ(rs.test.loss, rr.test.loss);
}

// --cuda-graph over several epochs with a partial last batch: the partial batch runs eagerly on
// the loader's tensors, and the next epoch captures again (a new learning rate) while the layers
// still hold those tensors, which the capture frees. (Their allocator events must wait for the
// capture's end: recorded during it, polling them invalidated the capture.) The run trains like
// the eager one.
TEST(TrainerGpu, CudaGraphRunOverEpochsWithAPartialBatchMatchesTheEagerRun) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) GTEST_SKIP() << "caching bypassed: TrainStep runs eagerly";
  Scratch eager("lenet5"), graphed("lenet5");
  for (Scratch* s : {&eager, &graphed}) {
    s->config.validation_size = 0;  // no evaluation between the epochs (it would free them)
    s->config.train_limit = 600;    // 9 full batches of 64 and one of 24
  }
  graphed.config.cuda_graph = true;
  const TrainResult re = run(eager.config);
  std::ostringstream out;
  const TrainResult rg = run_training(graphed.config, out);
  // A capture per epoch (a new learning rate), replays for the other full batches.
  EXPECT_NE(out.str().find("CUDA graph: 3 captures, 24 replays"), std::string::npos) << out.str();
  ASSERT_EQ(rg.epochs.size(), re.epochs.size());
  for (std::size_t e = 0; e < re.epochs.size(); ++e) {
    EXPECT_NEAR(rg.epochs[e].train_loss, re.epochs[e].train_loss,
                1e-4 * std::abs(re.epochs[e].train_loss))
        << "epoch " << e;
  }
  EXPECT_NEAR(rg.test.loss, re.test.loss, 1e-4 * std::abs(re.test.loss));
}

TEST(TrainerGpu, DetectAnomalyNamesTheLayerOnTheDevice) {
  CUDANET_REQUIRE_GPU();
  Scratch s("mlp");
  TrainConfig first = s.config;
  first.stop_after = 1;
  run(first);
  const std::string path = s.config.checkpoint_dir + "/last.safetensors";
  SafetensorsContents contents = load_safetensors(path);
  for (auto& [name, t] : contents.tensors) {
    if (name == "fc3.weight") {
      static_cast<float*>(t.data_ptr())[0] = std::numeric_limits<float>::infinity();
    }
  }
  save_safetensors(path, contents.tensors, contents.metadata);
  TrainConfig c = s.config;
  c.resume = true;
  c.detect_anomaly = true;
  try {
    run(c);
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.layer(), "fc3") << e.message();
    EXPECT_EQ(e.tensor(), "output") << e.message();
    EXPECT_EQ(e.epoch(), 2);
    EXPECT_EQ(e.step(), 1);
  }
}

// Takes the whole device (see tests/core/gpu/out_of_memory_test.cc): ctest runs it serially.
TEST(TrainerGpu, OutOfMemoryFillTheDeviceNamesTheBatchSize) {
  CUDANET_REQUIRE_GPU();
  Scratch s("lenet5");
  s.config.epochs = 1;
  run(s.config);  // library handles and workspaces exist before the device is full
  cuda::empty_cache(0);
  Allocator& allocator = cuda::caching_allocator(0);
  std::vector<DataPtr> held;
  for (std::size_t chunk = std::size_t{1} << 30; chunk >= 4096 && held.size() < 100000;) {
    try {
      held.push_back(allocator.allocate(chunk, cuda::current_stream(0)));
    } catch (const OutOfMemoryError&) {
      chunk /= 2;
    }
  }
  try {
    run(s.config);
    ADD_FAILURE() << "training on a full device did not run out of memory";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(e.message().find("with batch size 64"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("--batch-size 32"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("out of memory on cuda:0"), std::string::npos) << e.message();
  }
  held.clear();
  cuda::empty_cache(0);
  EXPECT_EQ(run(s.config).epochs.size(), 1u);  // the device trains again
}

}  // namespace
}  // namespace cudanet::train
