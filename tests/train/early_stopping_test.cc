// Early stopping: patience, min_delta, both modes, NaN, and state saved through metadata.
#include "train/early_stopping.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>

#include "core/error.h"

namespace cudanet::train {
namespace {

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  EarlyStopping es(2, 0.0, MetricMode::kMax);
  EXPECT_FALSE(es.step(0.80, 0));
  EXPECT_TRUE(es.improved());
  EXPECT_FALSE(es.step(0.85, 1));
  EXPECT_FALSE(es.step(0.84, 2));
  EXPECT_FALSE(es.improved());
  EXPECT_EQ(es.bad_epochs(), 1);
  EXPECT_FALSE(es.step(0.86, 3));  // an improvement resets the count
  EXPECT_EQ(es.bad_epochs(), 0);
  EXPECT_FALSE(es.step(0.86, 4));  // equal is not better
  EXPECT_TRUE(es.step(0.10, 5));
  EXPECT_TRUE(es.should_stop());
  EXPECT_EQ(es.best(), 0.86);
  EXPECT_EQ(es.best_epoch(), 3);
}

TEST(EarlyStopping, MinDeltaAndMinMode) {
  EarlyStopping es(1, 0.01, MetricMode::kMin);
  EXPECT_FALSE(es.step(1.0, 0));
  EXPECT_TRUE(es.step(0.995, 1));  // better, but by less than min_delta
  EXPECT_EQ(es.best(), 1.0);
  es.reset();
  EXPECT_EQ(es.best(), std::numeric_limits<double>::infinity());
  EXPECT_FALSE(es.step(1.0, 0));
  EXPECT_FALSE(es.step(0.98, 1));
  EXPECT_TRUE(es.improved());
  EXPECT_EQ(es.best_epoch(), 1);
}

TEST(EarlyStopping, PatienceZeroAndNaN) {
  EarlyStopping zero(0);
  EXPECT_FALSE(zero.step(0.5, 0));
  EXPECT_TRUE(zero.step(0.4, 1));
  EarlyStopping es(3);
  EXPECT_FALSE(es.step(std::nan(""), 0));
  EXPECT_FALSE(es.improved());
  EXPECT_EQ(es.best_epoch(), -1);
  EXPECT_FALSE(es.step(0.2, 1));
  EXPECT_TRUE(es.improved());
}

TEST(EarlyStopping, StateRoundTripsThroughCheckpointMetadata) {
  EarlyStopping es(3, 0.001, MetricMode::kMin);
  es.step(0.1 + 0.2, 0);  // a value that needs 17 digits
  es.step(0.5, 1);
  std::map<std::string, std::string> meta;
  es.save_state(meta);
  EXPECT_EQ(meta.count("early_stopping.best"), 1u);

  EarlyStopping restored(3, 0.001, MetricMode::kMin);
  restored.load_state(meta);
  EXPECT_EQ(restored.best(), 0.1 + 0.2);
  EXPECT_EQ(restored.best_epoch(), 0);
  EXPECT_EQ(restored.bad_epochs(), 1);
  EXPECT_EQ(restored.step(0.6, 2), es.step(0.6, 2));
  EXPECT_EQ(restored.step(0.6, 3), es.step(0.6, 3));
  EXPECT_TRUE(restored.should_stop());

  // Infinity (no epoch yet) survives too.
  EarlyStopping fresh(2);
  std::map<std::string, std::string> m2;
  fresh.save_state(m2, "es/");
  EarlyStopping back(2);
  back.load_state(m2, "es/");
  EXPECT_EQ(back.best(), -std::numeric_limits<double>::infinity());

  m2.erase("es/bad_epochs");
  EXPECT_THROW(back.load_state(m2, "es/"), ValueError);
  meta["early_stopping.best"] = "abc";
  EXPECT_THROW(back.load_state(meta), ValueError);
}

TEST(EarlyStopping, RejectsInvalidArguments) {
  EXPECT_THROW(EarlyStopping(-1), ValueError);
  EXPECT_THROW(EarlyStopping(1, -0.1), ValueError);
  EXPECT_THROW(EarlyStopping(1, std::nan("")), ValueError);
}

}  // namespace
}  // namespace cudanet::train
