// --deterministic on the CPU: two runs of the same configuration end with bitwise-identical
// checkpoints (parameters, optimizer state, RNG state), and a run interrupted after an epoch and
// resumed ends exactly where the uninterrupted run does. Synthetic MNIST-format data, so these
// run everywhere in a few seconds.
#include <filesystem>
#include <gtest/gtest.h>
#include <sstream>

#include "kernels/common.h"
#include "synthetic_mnist.h"
#include "temp_dir.h"
#include "train/idx.h"
#include "train/trainer.h"

namespace cudanet::train {
namespace {

using testing::TempDir;

struct Scratch {
  TempDir dir;
  TrainConfig config;
  explicit Scratch(const std::string& model, const std::string& optimizer = "sgd") {
    std::filesystem::create_directories(dir.file("data"));
    testing::write_synthetic_mnist(dir.file("data"), 400, 64);
    config.model = model;
    config.optimizer = optimizer;
    config.data = "mnist:" + dir.file("data");
    config.epochs = 3;
    config.batch_size = 32;
    config.train_limit = 256;
    config.validation_size = 64;
    config.device = "cpu";
    config.seed = 11;
    config.quiet = true;
    config.deterministic = true;
    config.checkpoint_dir = dir.file("ckpt");
    config.metrics_out = dir.file("metrics.json");
  }
  std::string checkpoint() const {
    return read_file_bytes(config.checkpoint_dir + "/last.safetensors");
  }
};

TrainResult run(const TrainConfig& c) {
  std::ostringstream out;
  return run_training(c, out);
}

TEST(Deterministic, TwoRunsAreBitwiseIdentical) {
  for (const char* model : {"lenet5", "mlp"}) {
    Scratch a(model), b(model);
    const TrainResult ra = run(a.config);
    const TrainResult rb = run(b.config);
    EXPECT_EQ(a.checkpoint(), b.checkpoint()) << model;
    EXPECT_EQ(ra.test.loss, rb.test.loss) << model;
    ASSERT_EQ(ra.epochs.size(), rb.epochs.size());
    for (std::size_t i = 0; i < ra.epochs.size(); ++i) {
      EXPECT_EQ(ra.epochs[i].train_loss, rb.epochs[i].train_loss) << model << " epoch " << i + 1;
    }
  }
}

TEST(Deterministic, InterruptedAndResumedRunEqualsTheUninterruptedOne) {
  for (const char* optimizer : {"sgd", "adamw"}) {
    Scratch straight("lenet5", optimizer), resumed("lenet5", optimizer);
    const TrainResult rs = run(straight.config);

    TrainConfig first = resumed.config;
    first.stop_after = 1;  // as if killed after epoch 1
    EXPECT_EQ(run(first).epochs.size(), 1u);
    TrainConfig second = resumed.config;
    second.resume = true;
    second.stop_after = 1;  // and again after epoch 2
    EXPECT_EQ(run(second).epochs.size(), 2u);
    TrainConfig third = resumed.config;
    third.resume = true;
    const TrainResult rr = run(third);

    EXPECT_EQ(straight.checkpoint(), resumed.checkpoint()) << optimizer;
    EXPECT_EQ(rs.test.loss, rr.test.loss) << optimizer;
    ASSERT_EQ(rr.epochs.size(), 3u);  // the history of the earlier runs is kept
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(rr.epochs[i].train_loss, rs.epochs[i].train_loss) << optimizer << " " << i;
    }
  }
}

TEST(Deterministic, TheSwitchIsSetForTheRunAndRestoredAfterwards) {
  const bool was = kernels::deterministic();
  kernels::set_deterministic(false);
  Scratch s("mlp");
  s.config.epochs = 1;
  run(s.config);
  EXPECT_FALSE(kernels::deterministic());
  kernels::set_deterministic(was);
}

}  // namespace
}  // namespace cudanet::train
