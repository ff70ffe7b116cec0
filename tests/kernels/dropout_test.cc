// Dropout on the CPU: the mask contract, keep rate, scaling, reproducibility, generator
// bookkeeping, gradients, bad arguments.
#include "kernels/dropout.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

#include "core/philox.h"
#include "core/random.h"
#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_equal;

TEST(Dropout, MaskFollowsThePhiloxContract) {
  const std::int64_t n = 1001;
  const double p = 0.4;
  const Tensor x = testing::random_tensor({7, 11, 13}, DType::kFloat32, 3);
  const DropoutResult r = dropout_forward(x, p, 1234, 56);
  const std::vector<std::uint8_t> mask = r.mask.to_vector<std::uint8_t>();
  ASSERT_EQ(static_cast<std::int64_t>(mask.size()), n);
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(mask[i], bernoulli(1234, 56, i, 1 - p) ? 1 : 0) << i;
    ASSERT_EQ(mask[i], uniform_float(1234, 56, i) < 1 - p ? 1 : 0) << i;
  }
  // The same mask as core's bernoulli fill with keep probability 1 - p.
  Tensor expected = Tensor::empty(x.shape(), DType::kUInt8);
  fill_bernoulli(expected.data_ptr(), DType::kUInt8, n, 1 - p, 1234, 56, Device::cpu());
  EXPECT_EQ(mask, expected.to_vector<std::uint8_t>());
  EXPECT_EQ(r.mask.shape(), x.shape());
  EXPECT_EQ(r.mask.dtype(), DType::kUInt8);
}

TEST(Dropout, ScalesKeptElementsAndZeroesTheRest) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const double p = 0.3;
    const Tensor x = testing::random_tensor({4, 50}, dtype, 4, -5, 5);
    const DropoutResult r = dropout_forward(x, p, 9, 0);
    const std::vector<double> xv = testing::as_doubles(x), yv = testing::as_doubles(r.y);
    const std::vector<std::uint8_t> m = r.mask.to_vector<std::uint8_t>();
    for (std::size_t i = 0; i < xv.size(); ++i) {
      if (m[i] != 0) {
        const double expected =
            dtype == DType::kFloat32
                ? static_cast<double>(static_cast<float>(xv[i]) * static_cast<float>(1 / (1 - p)))
                : xv[i] * (1 / (1 - p));
        ASSERT_EQ(yv[i], expected) << i;
      } else {
        ASSERT_EQ(yv[i], 0.0) << i;
      }
    }
  }
}

TEST(Dropout, KeepRateMatchesP) {
  const std::int64_t n = 200000;
  const Tensor x = Tensor::full({n}, 1.0);
  for (double p : {0.1, 0.5, 0.8}) {
    const DropoutResult r = dropout_forward(x, p, 77, 3);
    double kept = 0;
    for (std::uint8_t m : r.mask.to_vector<std::uint8_t>()) kept += m;
    const double rate = kept / static_cast<double>(n);
    const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
    EXPECT_NEAR(rate, 1 - p, 5 * sigma) << p;
    // Inverted scaling keeps the expectation: mean(y) ~ mean(x) = 1.
    double sum = 0;
    for (float v : r.y.to_vector<float>()) sum += v;
    EXPECT_NEAR(sum / static_cast<double>(n), 1.0, 5 * sigma / (1 - p)) << p;
  }
}

TEST(Dropout, ZeroProbabilityIsTheIdentity) {
  const Tensor x = testing::random_tensor({3, 9}, DType::kFloat64, 5);
  const DropoutResult r = dropout_forward(x, 0.0, 1, 2);
  EXPECT_TRUE(all_equal(r.y, x));
  for (std::uint8_t m : r.mask.to_vector<std::uint8_t>()) EXPECT_EQ(m, 1);
  const Tensor dy = testing::random_tensor({3, 9}, DType::kFloat64, 6);
  EXPECT_TRUE(all_equal(dropout_backward(dy, r.mask, 0.0), dy));
}

TEST(Dropout, ReproducibleAndOffsetSensitive) {
  const Tensor x = testing::random_tensor({1000}, DType::kFloat32, 7);
  const DropoutResult a = dropout_forward(x, 0.5, 42, 100);
  const DropoutResult b = dropout_forward(x, 0.5, 42, 100);
  EXPECT_EQ(a.mask.to_vector<std::uint8_t>(), b.mask.to_vector<std::uint8_t>());
  EXPECT_TRUE(all_equal(a.y, b.y));
  EXPECT_NE(a.mask.to_vector<std::uint8_t>(),
            dropout_forward(x, 0.5, 42, 101).mask.to_vector<std::uint8_t>());
  EXPECT_NE(a.mask.to_vector<std::uint8_t>(),
            dropout_forward(x, 0.5, 43, 100).mask.to_vector<std::uint8_t>());
  // Element i depends only on (seed, offset, i): a prefix draw is a prefix of the mask.
  const std::vector<std::uint8_t> full = a.mask.to_vector<std::uint8_t>();
  const std::vector<std::uint8_t> head =
      dropout_forward(x.narrow(0, 0, 37), 0.5, 42, 100).mask.to_vector<std::uint8_t>();
  EXPECT_EQ(head, std::vector<std::uint8_t>(full.begin(), full.begin() + 37));
}

TEST(Dropout, GeneratorOverloadAdvancesByTheCountersRead) {
  const Tensor x = testing::random_tensor({3, 7}, DType::kFloat64, 8);  // 21 -> 6 counters
  Generator g(555);
  const DropoutResult first = dropout_forward(x, 0.25, g);
  EXPECT_EQ(g.offset(), 6u);
  const DropoutResult second = dropout_forward(x, 0.25, g);
  EXPECT_EQ(g.offset(), 12u);
  EXPECT_EQ(first.mask.to_vector<std::uint8_t>(),
            dropout_forward(x, 0.25, 555, 0).mask.to_vector<std::uint8_t>());
  EXPECT_EQ(second.mask.to_vector<std::uint8_t>(),
            dropout_forward(x, 0.25, 555, 6).mask.to_vector<std::uint8_t>());
  dropout_forward(x, 0.0, g);  // p = 0 still reserves its counters
  EXPECT_EQ(g.offset(), 18u);
  EXPECT_THROW(dropout_forward(x, 1.0, g), ValueError);
  EXPECT_THROW(dropout_forward(Tensor(), 0.5, g), ValueError);
  EXPECT_EQ(g.offset(), 18u);  // rejected calls leave the generator alone
}

TEST(Dropout, BackwardAppliesTheMask) {
  const Tensor x = testing::random_tensor({5, 8}, DType::kFloat64, 9);
  const double p = 0.35;
  const DropoutResult r = dropout_forward(x, p, 2024, 11);
  const Tensor dy = testing::random_tensor({5, 8}, DType::kFloat64, 10);
  const Tensor dx = dropout_backward(dy, r.mask, p);
  const std::vector<double> d = testing::as_doubles(dy), g = testing::as_doubles(dx);
  const std::vector<std::uint8_t> m = r.mask.to_vector<std::uint8_t>();
  for (std::size_t i = 0; i < d.size(); ++i) {
    ASSERT_EQ(g[i], m[i] != 0 ? d[i] * (1 / (1 - p)) : 0.0) << i;
  }
  // The same (seed, offset) gives the same mask, so the forward is a fixed linear map.
  const auto f = [&](const Tensor& xi) { return dropout_forward(xi, p, 2024, 11).y; };
  EXPECT_TRUE(testing::check_gradient(f, x, dy, dx));
}

// The memory plan's backward: keep_i regenerated from (seed, offset) gives dx bit for bit equal
// to the mask-based backward, for both dtypes, sizes that are not multiples of 4, a Philox
// offset that carries, and every p; a forward that stores no mask gives the same y.
TEST(Dropout, RegeneratedBackwardEqualsTheMaskBackwardBitForBit) {
  std::uint64_t seed = 40;
  for (std::int64_t n : {1, 3, 4, 5, 1001, 65539}) {
    for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{7}, ~std::uint64_t{0} - 1}) {
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        for (double p : {0.0, 0.1, 0.5, 0.9}) {
          SCOPED_TRACE(::testing::Message()
                       << "n " << n << " offset " << offset << " " << dtype << " p " << p);
          const Tensor x = testing::random_tensor({n}, dtype, seed++, -4, 4);
          const Tensor dy = testing::random_tensor({n}, dtype, seed++);
          const DropoutResult with_mask = dropout_forward(x, p, 0xBEEF + seed, offset);
          const DropoutResult without =
              dropout_forward(x, p, 0xBEEF + seed, offset, /*store_mask=*/false);
          EXPECT_FALSE(without.mask.defined());
          EXPECT_EQ(without.seed, 0xBEEF + seed);
          EXPECT_EQ(without.offset, offset);
          EXPECT_TRUE(all_equal(without.y, with_mask.y));
          EXPECT_TRUE(all_equal(dropout_backward(dy, p, 0xBEEF + seed, offset),
                                dropout_backward(dy, with_mask.mask, p)));
        }
      }
    }
  }
}

TEST(Dropout, GeneratorOverloadReportsItsDraw) {
  Generator g(321);
  const Tensor x = testing::random_tensor({6, 7}, DType::kFloat32, 2);
  const GeneratorState before = g.state();
  const DropoutResult r = dropout_forward(x, 0.5, g, /*store_mask=*/false);
  EXPECT_FALSE(r.mask.defined());
  EXPECT_EQ(r.seed, before.seed);
  EXPECT_EQ(r.offset, before.offset);
  const DropoutResult again = dropout_forward(x, 0.5, r.seed, r.offset);
  EXPECT_TRUE(all_equal(r.y, again.y));
  const Tensor dy = testing::random_tensor({6, 7}, DType::kFloat32, 3);
  EXPECT_TRUE(all_equal(dropout_backward(dy, 0.5, r.seed, r.offset),
                        dropout_backward(dy, again.mask, 0.5)));
}

TEST(Dropout, RejectsBadArguments) {
  const Tensor x = testing::random_tensor({4, 4}, DType::kFloat32, 1);
  EXPECT_THROW(dropout_forward(x, 1.0, 1, 0), ValueError);
  EXPECT_THROW(dropout_forward(x, 1.5, 1, 0), ValueError);
  EXPECT_THROW(dropout_forward(x, -0.1, 1, 0), ValueError);
  EXPECT_THROW(dropout_forward(x, std::numeric_limits<double>::quiet_NaN(), 1, 0), ValueError);
  EXPECT_THROW(dropout_forward(Tensor::zeros({4}, DType::kInt32), 0.5, 1, 0), ValueError);
  const DropoutResult r = dropout_forward(x, 0.5, 1, 0);
  EXPECT_THROW(dropout_backward(x, r.mask, 1.0), ValueError);
  EXPECT_THROW(dropout_backward(x, r.mask.view({16}), 0.5), ShapeError);
  EXPECT_THROW(dropout_backward(x, Tensor::zeros({4, 4}), 0.5), ValueError);  // float32 mask
  EXPECT_THROW(dropout_backward(x, Tensor(), 0.5), ValueError);
  EXPECT_THROW(dropout_backward(x, 1.0, 1, 0), ValueError);
  EXPECT_THROW(dropout_backward(Tensor(), 0.5, 1, 0), ValueError);
  EXPECT_THROW(dropout_backward(Tensor::zeros({4}, DType::kInt32), 0.5, 1, 0), ValueError);
}

// The bookkeeping behind fresh dropout masks in replayed CUDA graphs, on CPU slots: per replay,
// the shift from the captured offsets to the generator's current offset, and the generator moved
// on by one step's draws, exactly as eager steps would move it.
TEST(DropoutReplayShifts, ShiftsReproduceTheEagerOffsets) {
  Generator a(11), b(12);
  a.set_state({11, 100});
  DropoutReplayShifts shifts(Device::cpu());
  shifts.begin_capture();
  // The captured step: two draws from a (5 and 3 counters), one from b (7).
  const std::uint64_t* slot_a = shifts.record(a, a.advance(5), 5);
  EXPECT_EQ(shifts.record(a, a.advance(3), 3), slot_a);
  const std::uint64_t* slot_b = shifts.record(b, b.advance(7), 7);
  EXPECT_NE(slot_a, slot_b);
  EXPECT_EQ(shifts.generators(), 2);
  const auto* base = static_cast<const std::uint64_t*>(shifts.slots().data_ptr());
  EXPECT_TRUE(slot_a == base || slot_b == base);
  // The replay right after the capture draws what the capture reserved: shift 0.
  shifts.prepare_replay(true);
  EXPECT_EQ(*slot_a, 0u);
  EXPECT_EQ(*slot_b, 0u);
  EXPECT_EQ(a.offset(), 108u);
  EXPECT_EQ(b.offset(), 7u);
  // The next replay: shift by one step's draws, and the generators move on by one step.
  shifts.prepare_replay(false);
  EXPECT_EQ(*slot_a, 8u);
  EXPECT_EQ(*slot_b, 7u);
  EXPECT_EQ(a.offset(), 116u);
  EXPECT_EQ(b.offset(), 14u);
  // An eager step in between (a partial batch drawing 2 from a) is accounted for.
  a.advance(2);
  shifts.prepare_replay(false);
  EXPECT_EQ(*slot_a, 18u);  // offset 118 - captured 100
  EXPECT_EQ(*slot_b, 14u);
  // A generator moved back (set_state) still gets its exact offset, modulo 2^64.
  a.set_state({11, 50});
  shifts.prepare_replay(false);
  EXPECT_EQ(100 + *slot_a, 50u);
  EXPECT_TRUE(shifts.seeds_unchanged());
  b.manual_seed(13);  // the captured seed is stale: the graph must be captured again
  EXPECT_FALSE(shifts.seeds_unchanged());
  shifts.begin_capture();
  EXPECT_EQ(shifts.generators(), 0);
  EXPECT_TRUE(shifts.seeds_unchanged());
}

TEST(DropoutReplayShifts, LimitsTheGeneratorsPerCapture) {
  DropoutReplayShifts shifts(Device::cpu());
  shifts.begin_capture();
  std::vector<Generator> gens(DropoutReplayShifts::kMaxGenerators + 1);
  for (int i = 0; i < DropoutReplayShifts::kMaxGenerators; ++i) {
    shifts.record(gens[static_cast<std::size_t>(i)], gens[static_cast<std::size_t>(i)].advance(1),
                  1);
  }
  EXPECT_THROW(shifts.record(gens.back(), gens.back().advance(1), 1), ValueError);
}

// Installed on the calling thread only, and ignored for CPU tensors (no graph there).
TEST(DropoutReplayShifts, CpuDrawsIgnoreAnInstalledRecorder) {
  DropoutReplayShifts shifts(Device::cpu());
  shifts.begin_capture();
  EXPECT_EQ(set_dropout_replay_shifts(&shifts), nullptr);
  Generator g(3);
  const Tensor x = testing::random_tensor({64}, DType::kFloat32, 1);
  dropout_forward(x, 0.5, g);
  EXPECT_EQ(set_dropout_replay_shifts(nullptr), &shifts);
  EXPECT_EQ(shifts.generators(), 0);
}

}  // namespace
}  // namespace cudanet::kernels
