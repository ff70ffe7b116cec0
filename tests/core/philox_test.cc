// Philox4x32-10 and the random fills on the CPU: known answers, the stream contract, generator
// state, moments, bounds and argument checks.
#include "core/philox.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/random.h"

namespace cudanet {
namespace {

constexpr std::uint64_t kSeed = 0x0123456789abcdefull;

// ---- Philox itself ------------------------------------------------------------------------------

struct Kat {
  PhiloxCounter counter;
  PhiloxKey key;
  PhiloxCounter expected;
};

// Random123's kat_vectors, the philox4x32 10 lines (counter, key, expected output).
TEST(Philox, KnownAnswers) {
  const Kat kats[] = {
      {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}},
       {{0x00000000, 0x00000000}},
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const PhiloxCounter out = philox4x32_10(k.counter, k.key);
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(out.w[j], k.expected.w[j])
          << "word " << j << " of counter " << std::hex << k.counter.w[0];
    }
  }
}

TEST(Philox, KeyAndCounterLayout) {
  const PhiloxKey key = philox_key(0x1122334455667788ull);
  EXPECT_EQ(key.w[0], 0x55667788u);
  EXPECT_EQ(key.w[1], 0x11223344u);
  const PhiloxCounter c = philox_counter(0x00000001fffffffeull, 3);
  EXPECT_EQ(c.w[0], 0x00000001u);
  EXPECT_EQ(c.w[1], 0x00000002u);
  EXPECT_EQ(c.w[2], 0u);
  EXPECT_EQ(c.w[3], 0u);
  // The counter is 128-bit: offset + index carries into word 2 instead of wrapping.
  const PhiloxCounter wrap = philox_counter(~std::uint64_t{0}, 2);
  EXPECT_EQ(wrap.w[0], 1u);
  EXPECT_EQ(wrap.w[1], 0u);
  EXPECT_EQ(wrap.w[2], 1u);
  EXPECT_EQ(wrap.w[3], 0u);
}

// Element i of a draw is word i % 4 of Philox(offset + i / 4, seed), spelt out by hand.
TEST(Philox, StreamContractWords) {
  const std::uint64_t offsets[] = {0, 77, ~std::uint64_t{0} - 1};
  for (std::uint64_t offset : offsets) {
    for (std::int64_t i : {0, 1, 2, 3, 4, 5, 11, 1001, 123457}) {
      const std::uint64_t c = offset + static_cast<std::uint64_t>(i / 4);
      const PhiloxCounter counter = {{static_cast<std::uint32_t>(c),
                                      static_cast<std::uint32_t>(c >> 32), c < offset ? 1u : 0u,
                                      0u}};
      const PhiloxKey key = {
          {static_cast<std::uint32_t>(kSeed), static_cast<std::uint32_t>(kSeed >> 32)}};
      const std::uint32_t w = philox4x32_10(counter, key).w[i % 4];
      EXPECT_EQ(uniform_u32(kSeed, offset, i), w) << "offset " << offset << " i " << i;
      EXPECT_EQ(uniform_float(kSeed, offset, i), static_cast<float>(w >> 8) * 0x1p-24f);
      // Double draws use blocks offset + i / 2, lanes 2 (i % 2) (high word) and 2 (i % 2) + 1.
      const PhiloxCounter d = philox_block(kSeed, offset, static_cast<std::uint64_t>(i / 2));
      const std::uint64_t bits = (std::uint64_t{d.w[2 * (i % 2)]} << 32) | d.w[2 * (i % 2) + 1];
      EXPECT_EQ(uniform_double(kSeed, offset, i), static_cast<double>(bits >> 11) * 0x1p-53);
    }
  }
}

TEST(Philox, Ranges) {
  for (std::int64_t i = 0; i < 100000; ++i) {
    const float f = uniform_float(kSeed, 5, i);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    const double d = uniform_double(kSeed, 5, i);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    ASSERT_TRUE(std::isfinite(normal_float(kSeed, 5, i)));
    ASSERT_TRUE(std::isfinite(normal_double(kSeed, 5, i)));
  }
  EXPECT_EQ(word_to_unit_float(0), 0.0f);
  EXPECT_EQ(word_to_unit_float(0xffffffffu), 1.0f - 0x1p-24f);
  EXPECT_EQ(words_to_unit_double(0xffffffffu, 0xffffffffu), 1.0 - 0x1p-53);
}

// The hand-written log and sincos that keep CPU and GPU in agreement are accurate.
TEST(Philox, BoxMullerMathIsAccurate) {
  std::vector<std::uint64_t> values = {1,
                                       2,
                                       3,
                                       0x7fffffffull,
                                       0x80000000ull,
                                       0xb504f333ull,
                                       0xb504f334ull,
                                       0xfffffffeull,
                                       0xffffffffull,
                                       0x100000000ull};
  for (std::int64_t i = 0; i < 20000; ++i) values.push_back(uniform_u32(kSeed, 9, i) + 1ull);
  for (std::uint64_t v : values) {
    const double x = static_cast<double>(v) * 0x1p-32;
    const double want = std::log(x);
    EXPECT_NEAR(detail::log_unit<32>(v), want, 4e-16 * std::fabs(want) + 1e-300) << v;
  }
  for (std::int64_t i = 0; i < 20000; ++i) {
    const auto v = static_cast<std::uint64_t>(uniform_double(kSeed, 3, i) * 0x1p53) + 1;
    const double x = static_cast<double>(v) * 0x1p-53;
    EXPECT_NEAR(detail::log_unit<53>(v), std::log(x), 4e-16 * std::fabs(std::log(x))) << v;
  }
  std::vector<std::uint64_t> angles;
  for (std::uint64_t k = 0; k < 8; ++k) {
    for (std::uint64_t d : {0ull, 1ull, 0x1fffffffull}) angles.push_back((k << 29) + d);
  }
  for (std::int64_t i = 0; i < 20000; ++i) angles.push_back(uniform_u32(kSeed, 11, i));
  for (std::uint64_t v : angles) {
    const long double t = 6.283185307179586476925286766559L * v / 4294967296.0L;
    double s, c;
    detail::sincos_turns<32>(v, &s, &c);
    EXPECT_NEAR(s, static_cast<double>(std::sin(t)), 3e-16) << v;
    EXPECT_NEAR(c, static_cast<double>(std::cos(t)), 3e-16) << v;
  }
  for (std::int64_t i = 0; i < 20000; ++i) {
    const std::uint64_t v = static_cast<std::uint64_t>(uniform_double(kSeed, 13, i) * 0x1p53);
    const long double t = 6.283185307179586476925286766559L * v / 9007199254740992.0L;
    double s, c;
    detail::sincos_turns<53>(v, &s, &c);
    EXPECT_NEAR(s, static_cast<double>(std::sin(t)), 3e-16) << v;
    EXPECT_NEAR(c, static_cast<double>(std::cos(t)), 3e-16) << v;
  }
}

// normal_float / normal_double follow Box-Muller over the documented words.
TEST(Philox, NormalFollowsBoxMuller) {
  for (std::int64_t i = 0; i < 4000; ++i) {
    const PhiloxCounter x = philox_block(kSeed, 21, static_cast<std::uint64_t>(i / 4));
    const int j = static_cast<int>(i % 4) / 2 * 2;
    const double u1 = (x.w[j] + 1.0) * 0x1p-32;
    const double t = 6.283185307179586 * x.w[j + 1] * 0x1p-32;
    const double r = std::sqrt(-2 * std::log(u1));
    const double want = i % 2 == 0 ? r * std::cos(t) : r * std::sin(t);
    EXPECT_NEAR(normal_float(kSeed, 21, i), want, 1e-6 * (1 + std::fabs(want))) << i;

    const PhiloxCounter y = philox_block(kSeed, 21, static_cast<std::uint64_t>(i / 2));
    const double v1 = static_cast<double>(words_to_u53(y.w[0], y.w[1]) + 1) * 0x1p-53;
    const double t2 = 6.283185307179586 * words_to_unit_double(y.w[2], y.w[3]);
    const double r2 = std::sqrt(-2 * std::log(v1));
    const double want2 = i % 2 == 0 ? r2 * std::cos(t2) : r2 * std::sin(t2);
    EXPECT_NEAR(normal_double(kSeed, 21, i), want2, 1e-13 * (1 + std::fabs(want2))) << i;
  }
}

// ---- fills follow the element functions ---------------------------------------------------------

std::vector<float> uniform_f(std::int64_t n, std::uint64_t seed, std::uint64_t offset,
                             double low = 0, double high = 1) {
  std::vector<float> v(static_cast<std::size_t>(n), -1.0f);
  fill_uniform(v.data(), DType::kFloat32, n, low, high, seed, offset, Device::cpu());
  return v;
}
std::vector<double> uniform_d(std::int64_t n, std::uint64_t seed, std::uint64_t offset,
                              double low = 0, double high = 1) {
  std::vector<double> v(static_cast<std::size_t>(n), -1.0);
  fill_uniform(v.data(), DType::kFloat64, n, low, high, seed, offset, Device::cpu());
  return v;
}
std::vector<float> normal_f(std::int64_t n, std::uint64_t seed, std::uint64_t offset,
                            double mean = 0, double stddev = 1) {
  std::vector<float> v(static_cast<std::size_t>(n), -1.0f);
  fill_normal(v.data(), DType::kFloat32, n, mean, stddev, seed, offset, Device::cpu());
  return v;
}
std::vector<double> normal_d(std::int64_t n, std::uint64_t seed, std::uint64_t offset,
                             double mean = 0, double stddev = 1) {
  std::vector<double> v(static_cast<std::size_t>(n), -1.0);
  fill_normal(v.data(), DType::kFloat64, n, mean, stddev, seed, offset, Device::cpu());
  return v;
}
std::vector<std::uint8_t> bernoulli_u8(std::int64_t n, double p, std::uint64_t seed,
                                       std::uint64_t offset) {
  std::vector<std::uint8_t> v(static_cast<std::size_t>(n), 7);
  fill_bernoulli(v.data(), DType::kUInt8, n, p, seed, offset, Device::cpu());
  return v;
}

TEST(RandomFill, MatchesElementFunctions) {
  const std::int64_t n = 1003;
  const auto uf = uniform_f(n, kSeed, 42);
  const auto ud = uniform_d(n, kSeed, 42);
  const auto nf = normal_f(n, kSeed, 42);
  const auto nd = normal_d(n, kSeed, 42);
  const auto bu = bernoulli_u8(n, 0.3, kSeed, 42);
  std::vector<float> bf(n, 7.0f);
  std::vector<double> bd(n, 7.0);
  fill_bernoulli(bf.data(), DType::kFloat32, n, 0.3, kSeed, 42, Device::cpu());
  fill_bernoulli(bd.data(), DType::kFloat64, n, 0.3, kSeed, 42, Device::cpu());
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(uf[i], uniform_float(kSeed, 42, i)) << i;
    ASSERT_EQ(ud[i], uniform_double(kSeed, 42, i)) << i;
    ASSERT_EQ(nf[i], normal_float(kSeed, 42, i)) << i;
    ASSERT_EQ(nd[i], normal_double(kSeed, 42, i)) << i;
    const bool b = bernoulli(kSeed, 42, i, 0.3);
    ASSERT_EQ(bu[i], b ? 1 : 0) << i;
    ASSERT_EQ(bf[i], b ? 1.0f : 0.0f) << i;
    ASSERT_EQ(bd[i], b ? 1.0 : 0.0) << i;
  }
}

// Element i does not depend on n, nor on the chunk being filled: a chunk starting at element
// k * per is the draw (seed, offset + k).
TEST(RandomFill, ElementIndependentOfNAndChunk) {
  const std::int64_t n = 1000003;
  const auto full_f = uniform_f(n, kSeed, 9);
  const auto full_n = normal_f(n, kSeed, 9);
  const auto full_d = normal_d(n, kSeed, 9);
  for (std::int64_t m : {1, 2, 3, 5, 4097}) {
    const auto part = uniform_f(m, kSeed, 9);
    const auto part_n = normal_f(m, kSeed, 9);
    const auto part_d = normal_d(m, kSeed, 9);
    for (std::int64_t i = 0; i < m; ++i) {
      ASSERT_EQ(part[i], full_f[i]);
      ASSERT_EQ(part_n[i], full_n[i]);
      ASSERT_EQ(part_d[i], full_d[i]);
    }
  }
  const std::int64_t k = 12345;  // counters skipped
  const auto chunk_f = uniform_f(1001, kSeed, 9 + k);
  const auto chunk_n = normal_f(1001, kSeed, 9 + k);
  const auto chunk_d = normal_d(1001, kSeed, 9 + k);
  for (std::int64_t i = 0; i < 1001; ++i) {
    ASSERT_EQ(chunk_f[i], full_f[4 * k + i]);
    ASSERT_EQ(chunk_n[i], full_n[4 * k + i]);
    ASSERT_EQ(chunk_d[i], full_d[2 * k + i]);
  }
}

TEST(RandomFill, ReproducibleAndSeedsAndOffsetsDiffer) {
  const std::int64_t n = 10001;
  EXPECT_EQ(uniform_f(n, kSeed, 3), uniform_f(n, kSeed, 3));
  EXPECT_EQ(normal_d(n, kSeed, 3), normal_d(n, kSeed, 3));
  auto count_equal = [](const auto& a, const auto& b) {
    std::int64_t same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    return same;
  };
  const auto base = uniform_f(n, kSeed, 3);
  // Equal by chance with probability 2^-24 per element.
  EXPECT_LE(count_equal(base, uniform_f(n, kSeed + 1, 3)), 2);
  EXPECT_LE(count_equal(base, uniform_f(n, kSeed ^ (1ull << 40), 3)), 2);
  EXPECT_LE(count_equal(base, uniform_f(n, kSeed, 4 + n)), 2);
  EXPECT_LE(count_equal(normal_d(n, kSeed, 3), normal_d(n, kSeed, 2 + n)), 0);
}

TEST(RandomFill, UniformBoundsRespected) {
  const std::int64_t n = 200001;
  for (float v : uniform_f(n, kSeed, 0, -2.0, 3.0)) {
    ASSERT_GE(v, -2.0f);
    ASSERT_LT(v, 3.0f);
  }
  for (double v : uniform_d(n, kSeed, 0, -2.0, 3.0)) {
    ASSERT_GE(v, -2.0);
    ASSERT_LT(v, 3.0);
  }
  // A range a few floats wide: rounding to nearest would reach `high` without the clamp.
  const float lo = 1.0f, hi = 1.0f + 4 * 0x1p-23f;
  bool saw_top = false;
  for (float v : uniform_f(n, kSeed, 0, lo, hi)) {
    ASSERT_GE(v, lo);
    ASSERT_LT(v, hi);
    saw_top |= v == hi - 0x1p-23f;
  }
  EXPECT_TRUE(saw_top);
  // Bounds that are not floats are rounded to the dtype first.
  for (float v : uniform_f(1001, kSeed, 0, 0.1, 0.2)) {
    ASSERT_GE(v, 0.1f);
    ASSERT_LT(v, 0.2f);
  }
}

// ---- moments ------------------------------------------------------------------------------------

struct Moments {
  double mean = 0, var = 0, skew = 0, kurt = 0;
};
template <typename T>
Moments moments(const std::vector<T>& v) {
  Moments m;
  const double n = static_cast<double>(v.size());
  for (T x : v) m.mean += x;
  m.mean /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (T x : v) {
    const double d = x - m.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.kurt = m4 / (m2 * m2) - 3;
  return m;
}

constexpr std::int64_t kSamples = 1 << 20;

TEST(RandomFill, UniformMoments) {
  const double se = std::sqrt(1.0 / 12 / kSamples);  // standard error of the mean
  for (const Moments& m :
       {moments(uniform_f(kSamples, kSeed, 100)), moments(uniform_d(kSamples, kSeed, 100))}) {
    EXPECT_NEAR(m.mean, 0.5, 5 * se);
    EXPECT_NEAR(m.var, 1.0 / 12, 5 * std::sqrt(1.0 / 180 / kSamples));
    EXPECT_NEAR(m.skew, 0.0, 5 * std::sqrt(6.0 / kSamples));
  }
  const Moments m = moments(uniform_f(kSamples, kSeed, 100, -3.0, 5.0));
  EXPECT_NEAR(m.mean, 1.0, 5 * 8 * se);
  EXPECT_NEAR(m.var, 64.0 / 12, 5 * 64 * std::sqrt(1.0 / 180 / kSamples));
  // The 16 top-nibble buckets are equally filled (chi-square, 15 degrees of freedom).
  std::vector<double> counts(16, 0);
  for (std::int64_t i = 0; i < kSamples; ++i) counts[uniform_u32(kSeed, 7, i) >> 28] += 1;
  double chi2 = 0;
  for (double c : counts) chi2 += (c - kSamples / 16.0) * (c - kSamples / 16.0) / (kSamples / 16.0);
  EXPECT_LT(chi2, 40.0);  // p ~ 5e-4
}

TEST(RandomFill, NormalMoments) {
  for (const Moments& m :
       {moments(normal_f(kSamples, kSeed, 200)), moments(normal_d(kSamples, kSeed, 200))}) {
    EXPECT_NEAR(m.mean, 0.0, 5 / std::sqrt(double{kSamples}));
    EXPECT_NEAR(m.var, 1.0, 5 * std::sqrt(2.0 / kSamples));
    EXPECT_NEAR(m.skew, 0.0, 5 * std::sqrt(6.0 / kSamples));
    EXPECT_NEAR(m.kurt, 0.0, 5 * std::sqrt(24.0 / kSamples));
  }
  const Moments m = moments(normal_f(kSamples, kSeed, 300, 2.5, 0.5));
  EXPECT_NEAR(m.mean, 2.5, 5 * 0.5 / std::sqrt(double{kSamples}));
  EXPECT_NEAR(m.var, 0.25, 5 * 0.25 * std::sqrt(2.0 / kSamples));
  // Neighbouring elements (the two halves of a Box-Muller pair included) are uncorrelated.
  const auto z = normal_f(kSamples, kSeed, 400);
  double c = 0;
  for (std::int64_t i = 0; i + 1 < kSamples; ++i) c += z[i] * z[i + 1];
  EXPECT_NEAR(c / (kSamples - 1), 0.0, 5 / std::sqrt(double{kSamples}));
  // P(|z| > 2) = 0.0455.
  std::int64_t tail = 0;
  for (float v : z) tail += std::fabs(v) > 2;
  const double p = 0.04550026389635842;
  EXPECT_NEAR(tail / double{kSamples}, p, 5 * std::sqrt(p * (1 - p) / kSamples));
  // std = 0 gives the mean exactly.
  for (float v : normal_f(101, kSeed, 0, 1.25, 0.0)) ASSERT_EQ(v, 1.25f);
}

TEST(RandomFill, BernoulliFrequency) {
  for (double p : {0.1, 0.5, 0.9}) {
    const auto mask = bernoulli_u8(kSamples, p, kSeed, 500);
    std::int64_t ones = 0;
    for (std::uint8_t b : mask) {
      ASSERT_TRUE(b == 0 || b == 1);
      ones += b;
    }
    EXPECT_NEAR(ones / double{kSamples}, p, 5 * std::sqrt(p * (1 - p) / kSamples)) << p;
  }
  for (std::uint8_t b : bernoulli_u8(10001, 0.0, kSeed, 1)) ASSERT_EQ(b, 0);
  for (std::uint8_t b : bernoulli_u8(10001, 1.0, kSeed, 1)) ASSERT_EQ(b, 1);
}

// ---- generators ---------------------------------------------------------------------------------

TEST(Generator, AdvanceAndState) {
  Generator g(kSeed);
  EXPECT_EQ(g.seed(), kSeed);
  EXPECT_EQ(g.offset(), 0u);
  EXPECT_EQ(g.advance(10), (GeneratorState{kSeed, 0}));
  EXPECT_EQ(g.advance(5), (GeneratorState{kSeed, 10}));
  EXPECT_EQ(g.offset(), 15u);
  EXPECT_EQ(philox_counters(DType::kFloat32, 0), 0u);
  EXPECT_EQ(philox_counters(DType::kFloat32, 5), 2u);
  EXPECT_EQ(philox_counters(DType::kUInt8, 8), 2u);
  EXPECT_EQ(philox_counters(DType::kFloat64, 5), 3u);

  // Save, draw, restore, draw again: the same values.
  const GeneratorState saved = g.state();
  std::vector<float> a(1001), b(1001), c(1001);
  fill_normal(a.data(), DType::kFloat32, 1001, 0, 1, g, Device::cpu());
  fill_normal(b.data(), DType::kFloat32, 1001, 0, 1, g, Device::cpu());
  EXPECT_EQ(g.offset(), saved.offset + 2 * philox_counters(DType::kFloat32, 1001));
  EXPECT_NE(a, b);  // consecutive draws do not overlap
  g.set_state(saved);
  fill_normal(c.data(), DType::kFloat32, 1001, 0, 1, g, Device::cpu());
  EXPECT_EQ(a, c);
  EXPECT_EQ(a, normal_f(1001, kSeed, 15));

  // A copy continues the same stream independently.
  Generator copy = g;
  EXPECT_EQ(copy.state(), g.state());
  copy.advance(1);
  EXPECT_NE(copy.state(), g.state());

  g.manual_seed(7);
  EXPECT_EQ(g.state(), (GeneratorState{7, 0}));

  // A rejected draw does not advance the generator.
  const GeneratorState before = g.state();
  EXPECT_THROW(fill_normal(c.data(), DType::kFloat32, 10, 0, -1, g, Device::cpu()), ValueError);
  EXPECT_EQ(g.state(), before);
}

TEST(Generator, DefaultGeneratorManualSeed) {
  const GeneratorState saved = default_generator().state();
  manual_seed(1234);
  EXPECT_EQ(default_generator().state(), (GeneratorState{1234, 0}));
  std::vector<double> a(99), b(99);
  fill_uniform(a.data(), DType::kFloat64, 99, 0, 1, default_generator(), Device::cpu());
  manual_seed(1234);
  fill_uniform(b.data(), DType::kFloat64, 99, 0, 1, default_generator(), Device::cpu());
  EXPECT_EQ(a, b);
  EXPECT_EQ(default_generator().offset(), 50u);
  default_generator().set_state(saved);
}

// ---- argument checks ----------------------------------------------------------------------------

template <typename F>
void expect_value_error(F&& f, const std::string& mentions) {
  try {
    f();
    ADD_FAILURE() << "no ValueError; expected one mentioning '" << mentions << "'";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(RandomFill, ArgumentErrors) {
  float f[4];
  std::int32_t ints[4];
  const Device cpu = Device::cpu();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, 4, 1, 1, 0, 0, cpu); }, "low = 1");
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, 4, 2, 1, 0, 0, cpu); }, "high = 1");
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, 4, 1, 1 + 1e-12, 0, 0, cpu); },
                     "rounding to float32");
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, 4, kNaN, 1, 0, 0, cpu); }, "nan");
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, 4, 0, 1e39, 0, 0, cpu); }, "1e+39");
  expect_value_error([&] { fill_uniform(f, DType::kFloat64, 2, -1e308, 1e308, 0, 0, cpu); },
                     "overflows");
  expect_value_error([&] { fill_uniform(ints, DType::kInt32, 4, 0, 1, 0, 0, cpu); }, "int32");
  expect_value_error([&] { fill_uniform(f, DType::kFloat16, 4, 0, 1, 0, 0, cpu); }, "float16");
  expect_value_error([&] { fill_uniform(f, DType::kUInt8, 4, 0, 1, 0, 0, cpu); }, "uint8");
  expect_value_error([&] { fill_uniform(f, DType::kFloat32, -1, 0, 1, 0, 0, cpu); }, "n = -1");
  expect_value_error([&] { fill_uniform(nullptr, DType::kFloat32, 4, 0, 1, 0, 0, cpu); }, "null");
  expect_value_error([&] { fill_normal(f, DType::kFloat32, 4, 0, -0.5, 0, 0, cpu); }, "std = -0.5");
  expect_value_error([&] { fill_normal(f, DType::kFloat32, 4, kInf, 1, 0, 0, cpu); }, "mean = inf");
  expect_value_error([&] { fill_normal(ints, DType::kInt32, 4, 0, 1, 0, 0, cpu); }, "int32");
  expect_value_error([&] { fill_normal(f, DType::kFloat32, -3, 0, 1, 0, 0, cpu); }, "n = -3");
  expect_value_error([&] { fill_bernoulli(f, DType::kFloat32, 4, 1.5, 0, 0, cpu); }, "p = 1.5");
  expect_value_error([&] { fill_bernoulli(f, DType::kFloat32, 4, -0.1, 0, 0, cpu); }, "p = -0.1");
  expect_value_error([&] { fill_bernoulli(f, DType::kFloat32, 4, kNaN, 0, 0, cpu); }, "p = nan");
  expect_value_error([&] { fill_bernoulli(ints, DType::kInt32, 4, 0.5, 0, 0, cpu); }, "int32");
  expect_value_error([&] { philox_counters(DType::kFloat32, -2); }, "n = -2");
  // n = 0 writes nothing and accepts a null pointer.
  fill_uniform(nullptr, DType::kFloat32, 0, 0, 1, 0, 0, cpu);
  fill_normal(nullptr, DType::kFloat64, 0, 0, 1, 0, 0, cpu);
  fill_bernoulli(nullptr, DType::kUInt8, 0, 0.5, 0, 0, cpu);
}

// Without a GPU (a CPU-only build, or a CUDA build on a machine without one), a CUDA fill
// throws CudaError; bad arguments are still reported as ValueError first.
TEST(RandomFill, CudaFillWithoutGpuThrowsCudaError) {
  if (cuda::is_available()) GTEST_SKIP() << "a GPU is available; see tests/core/gpu/random_test.cc";
  float f[4];
  EXPECT_THROW(fill_uniform(f, DType::kFloat32, 4, 0, 1, 0, 0, Device::cuda(0)), CudaError);
  EXPECT_THROW(fill_normal(f, DType::kFloat32, 4, 0, 1, 0, 0, Device::cuda(0)), CudaError);
  EXPECT_THROW(fill_bernoulli(f, DType::kFloat32, 4, 0.5, 0, 0, Device::cuda(0)), CudaError);
  const Stream gpu_stream(Device::cuda(0), nullptr);
  EXPECT_THROW(cuda::fill_uniform(f, DType::kFloat32, 4, 0, 1, 0, 0, gpu_stream), CudaError);
  EXPECT_THROW(cuda::fill_normal(f, DType::kFloat32, 4, 0, 1, 0, 0, gpu_stream), CudaError);
  EXPECT_THROW(cuda::fill_bernoulli(f, DType::kUInt8, 4, 0.5, 0, 0, gpu_stream), CudaError);
  EXPECT_THROW(fill_uniform(f, DType::kFloat32, 4, 1, 0, 0, 0, Device::cuda(0)), ValueError);
}

}  // namespace
}  // namespace cudanet
