// --deterministic on the CPU: two runs of the same configuration end with bitwise-identical
// checkpoints (parameters, optimizer state, RNG state), and a run interrupted after an epoch and
// resumed ends exactly where the uninterrupted run does. Synthetic MNIST-format data, so these
// run everywhere in a few seconds.
#include <gtest/gtest.h>

#include "kernels/common.h"
#include "training_scratch.h"

namespace cudanet::train {
namespace {

using Scratch = testing::TrainingScratch;
using testing::ScratchOptions;

TrainResult run(const TrainConfig& c) {
  return testing::run_quietly(c);
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
    ScratchOptions o;
    o.optimizer = optimizer;
    Scratch straight("lenet5", o), resumed("lenet5", o);
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
