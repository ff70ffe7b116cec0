// Learning-rate schedules against PyTorch's closed forms, computed by hand here:
//   StepLR:            base * gamma ** (t // step_size)
//   MultiStepLR:       base * gamma ** bisect_right(sorted(milestones), t)
//   CosineAnnealingLR: eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2
//   SequentialLR([LinearLR(start_factor, total_iters=w), main], [w]):
//                      base * (start + (1 - start) * t / w) for t < w, then main(t - w)
#include "train/lr_schedule.h"

#include <cmath>
#include <gtest/gtest.h>

#include "core/error.h"

namespace cudanet::train {
namespace {

constexpr double kTol = 1e-15;

TEST(LrSchedule, Constant) {
  const LrSchedule s = LrSchedule::constant(0.01);
  for (int t : {0, 1, 100}) EXPECT_EQ(s.lr_at(t), 0.01);
}

TEST(LrSchedule, StepMatchesStepLR) {
  // StepLR(lr=0.1, step_size=3, gamma=0.5)
  const LrSchedule s = LrSchedule::step(0.1, 3, 0.5);
  const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125};
  for (int t = 0; t < 10; ++t) EXPECT_NEAR(s.lr_at(t), expected[t], kTol) << t;
}

TEST(LrSchedule, MultiStepMatchesMultiStepLR) {
  // MultiStepLR(lr=1.0, milestones=[5, 2], gamma=0.1): milestones are sorted.
  const LrSchedule s = LrSchedule::multistep(1.0, {5, 2}, 0.1);
  const double expected[] = {1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01};
  for (int t = 0; t < 7; ++t) EXPECT_NEAR(s.lr_at(t), expected[t], 1e-16) << t;
  EXPECT_NEAR(s.lr_at(1000), 0.01, 1e-16);
  // A repeated milestone counts twice, as in PyTorch's Counter.
  const LrSchedule twice = LrSchedule::multistep(1.0, {3, 3}, 0.5);
  EXPECT_EQ(twice.lr_at(2), 1.0);
  EXPECT_EQ(twice.lr_at(3), 0.25);
}

TEST(LrSchedule, CosineMatchesCosineAnnealingLR) {
  // CosineAnnealingLR(lr=0.1, T_max=10, eta_min=0.001)
  const LrSchedule s = LrSchedule::cosine(0.1, 10, 0.001);
  EXPECT_NEAR(s.lr_at(0), 0.1, kTol);
  EXPECT_NEAR(s.lr_at(2), 0.001 + 0.099 * (1 + 0.80901699437494745) / 2, kTol);  // cos(pi/5)
  EXPECT_NEAR(s.lr_at(5), 0.0505, kTol);
  EXPECT_NEAR(s.lr_at(10), 0.001, kTol);
  EXPECT_NEAR(s.lr_at(15), 0.0505, 1e-12);  // the closed form is periodic past T_max
  const LrSchedule zero = LrSchedule::cosine(1.0, 4);
  EXPECT_NEAR(zero.lr_at(1), (1 + std::sqrt(0.5)) / 2, kTol);
  EXPECT_NEAR(zero.lr_at(4), 0.0, kTol);
}

TEST(LrSchedule, WarmupMatchesSequentialLinearLR) {
  // SequentialLR([LinearLR(start_factor=0.25, total_iters=4), StepLR(step_size=2, gamma=0.1)],
  //              milestones=[4]) with lr=0.2.
  const LrSchedule s = LrSchedule::step(0.2, 2, 0.1).with_warmup(4, 0.25);
  const double expected[] = {0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2, 0.02, 0.02, 0.002};
  for (int t = 0; t < 9; ++t) EXPECT_NEAR(s.lr_at(t), expected[t], kTol) << t;
  EXPECT_EQ(s.warmup(), 4);
  const LrSchedule none = LrSchedule::cosine(0.1, 5).with_warmup(0);
  EXPECT_NEAR(none.lr_at(0), 0.1, kTol);
  const LrSchedule cos = LrSchedule::cosine(0.1, 10, 0.0).with_warmup(2, 0.5);
  EXPECT_NEAR(cos.lr_at(1), 0.075, kTol);
  EXPECT_NEAR(cos.lr_at(7), 0.05, kTol);  // cosine at t = 5
}

TEST(LrSchedule, RejectsInvalidArguments) {
  EXPECT_THROW(LrSchedule::constant(-0.1), ValueError);
  EXPECT_THROW(LrSchedule::constant(NAN), ValueError);
  EXPECT_THROW(LrSchedule::step(0.1, 0), ValueError);
  EXPECT_THROW(LrSchedule::step(0.1, 2, 0.0), ValueError);
  EXPECT_THROW(LrSchedule::step(0.1, 2, INFINITY), ValueError);
  EXPECT_THROW(LrSchedule::multistep(0.1, {3, -1}), ValueError);
  EXPECT_THROW(LrSchedule::cosine(0.1, 0), ValueError);
  EXPECT_THROW(LrSchedule::cosine(0.1, 5, -1e-3), ValueError);
  EXPECT_THROW(LrSchedule::constant(0.1).with_warmup(-1), ValueError);
  EXPECT_THROW(LrSchedule::constant(0.1).with_warmup(3, 0.0), ValueError);
  EXPECT_THROW(LrSchedule::constant(0.1).with_warmup(3, 1.5), ValueError);
  EXPECT_THROW(LrSchedule::constant(0.1).lr_at(-1), ValueError);
}

TEST(LrSchedule, ParsesCommandLineSpecs) {
  EXPECT_EQ(parse_lr_schedule("constant", 0.3).lr_at(9), 0.3);
  const LrSchedule step = parse_lr_schedule("step:3:0.5", 0.1);
  EXPECT_EQ(step.kind(), LrSchedule::Kind::kStep);
  EXPECT_NEAR(step.lr_at(3), 0.05, kTol);
  EXPECT_NEAR(parse_lr_schedule("step:3", 1.0).lr_at(3), 0.1, kTol);
  EXPECT_NEAR(parse_lr_schedule("multistep:2,5", 1.0).lr_at(5), 0.01, 1e-16);
  EXPECT_NEAR(parse_lr_schedule("cosine:10:0.001", 0.1).lr_at(5), 0.0505, kTol);
  const LrSchedule w = parse_lr_schedule("cosine:10+warmup:2:0.5", 0.1);
  EXPECT_NEAR(w.lr_at(1), 0.075, kTol);
  EXPECT_EQ(w.str(), "cosine(base_lr=0.1, t_max=10, eta_min=0) after warmup(2, start_factor=0.5)");
  for (const char* bad : {"", "linear", "step", "step:x", "step:3:0.5:1", "multistep:2,,5",
                          "cosine:10+warm:2", "cosine:10+warmup", "constant:1", "step:0"}) {
    EXPECT_THROW(parse_lr_schedule(bad, 0.1), ValueError) << bad;
  }
}

}  // namespace
}  // namespace cudanet::train
