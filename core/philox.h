// Philox4x32-10: the counter-based random number generator of cudanet (header-only, host and
// device).
//
// Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11) maps
// a 128-bit counter and a 64-bit key to 128 random bits through 10 rounds of multiply-xor mixing.
// Because the output is a pure function of (counter, key), any element of any draw can be computed
// on its own, on the CPU or on the GPU, with the same result: dropout masks and weight init are
// identical on both devices.
//
// Note: the stream contract. A draw is named by (seed, offset), both uint64. It reads the Philox
// blocks
//     block(b) = philox4x32_10(counter = offset + b, key = {lo32(seed), hi32(seed)}), b >= 0,
// where the counter is the 128-bit integer offset + b written as four little-endian 32-bit words
// {bits 0-31, bits 32-63, bits 64-95 (the carry), 0}. Element i of a draw then uses:
//   - uniform_u32, uniform_float, bernoulli, normal_float (4 values per block):
//       block(i / 4), lane i % 4 for the 32-bit draws;
//       normal_float: the lane pair {2j, 2j+1} with j = (i % 4) / 2 -- lane 2j gives the radius,
//       lane 2j+1 the angle of one Box-Muller pair; even i takes r cos(t), odd i takes r sin(t);
//   - uniform_double, normal_double (2 values per block):
//       uniform_double: block(i / 2), lanes {2j, 2j+1} with j = i % 2, lane 2j the high word;
//       normal_double: block(i / 2) -- lanes {0, 1} the radius, {2, 3} the angle (53 bits each);
//       even i takes r cos(t), odd i takes r sin(t).
// So element i never depends on n nor on which chunk is being filled, and a draw of n values uses
// ceil(n / 4) counters (float and 32-bit draws) or ceil(n / 2) counters (double draws): advance a
// Generator's offset by that many before the next draw (core/random.h: philox_counters).
//
// Note: the uniform values lie in [0, 1): uniform_float = (w >> 8) * 2^-24 and uniform_double =
// (53-bit integer) * 2^-53, both exact. Box-Muller does not take log of those: its radius word w
// gives u1 = (w + 1) * 2^-bits in (0, 1], so log(u1) is finite (u1 = 1 gives radius 0); the
// angle is 2*pi * (angle word) * 2^-bits.
//
// Note: CPU and GPU agree bit for bit, normals included. Box-Muller runs in double with the
// logarithm and sine/cosine written here as polynomials over +, -, *, / and sqrt only, each
// correctly rounded under IEEE 754 on both devices; on the device the operations are the
// non-contracting _rn intrinsics, so nvcc cannot fuse them into FMAs. The host side must not
// contract a*b+c either: GCC contracts by default in C++ (ISO mode or not) wherever the target
// has FMA (-march=native, x86-64-v3), so cudanet builds its host code with -ffp-contract=off
// (CMakeLists.txt); a user compiling this header elsewhere with FMA enabled must do the same.
// nvcc's --use_fast_math leaves the double intrinsics exact, but its flush-to-zero could turn a
// subnormal float result (|x| < 2^-126) into 0 on the device only.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>

#ifndef CUDANET_HOST_DEVICE
#if defined(__CUDACC__)
#define CUDANET_HOST_DEVICE __host__ __device__
#else
#define CUDANET_HOST_DEVICE
#endif
#endif

// The library's own fills must be built without fast math or excess precision. A program that
// includes this header with such flags still compiles; its inline host draws may then differ
// from the library's in the last bit of a normal value.
#if defined(CUDANET_BUILDING_LIBRARY)
#if defined(__FAST_MATH__)
#error "core/philox.h: -ffast-math breaks the bitwise CPU/GPU agreement of the random draws"
#endif
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "core/philox.h: needs FLT_EVAL_METHOD == 0 (no excess precision, e.g. SSE2 on x86-64)"
#endif
#endif

namespace cudanet {

// Four 32-bit words: a Philox counter, or the block of random bits it produces.
struct PhiloxCounter {
  std::uint32_t w[4];
};
// Two 32-bit words: a Philox key.
struct PhiloxKey {
  std::uint32_t w[2];
};

inline constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;  // round multipliers
inline constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // Weyl key increments
inline constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;
inline constexpr int kPhiloxRounds = 10;

namespace detail {

CUDANET_HOST_DEVICE inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t* hi,
                                          std::uint32_t* lo) {
#if defined(__CUDA_ARCH__)
  *hi = __umulhi(a, b);
  *lo = a * b;
#else
  const std::uint64_t product = std::uint64_t{a} * b;
  *hi = static_cast<std::uint32_t>(product >> 32);
  *lo = static_cast<std::uint32_t>(product);
#endif
}

CUDANET_HOST_DEVICE inline PhiloxCounter philox_round(const PhiloxCounter& c, const PhiloxKey& k) {
  std::uint32_t hi0, lo0, hi1, lo1;
  mulhilo32(kPhiloxM0, c.w[0], &hi0, &lo0);
  mulhilo32(kPhiloxM1, c.w[2], &hi1, &lo1);
  return {{hi1 ^ c.w[1] ^ k.w[0], lo1, hi0 ^ c.w[3] ^ k.w[1], lo0}};
}

}  // namespace detail

// The Philox4x32-10 bijection: 10 rounds, the key bumped by the Weyl increments between rounds.
CUDANET_HOST_DEVICE inline PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      key.w[0] += kPhiloxW0;
      key.w[1] += kPhiloxW1;
    }
    counter = detail::philox_round(counter, key);
  }
  return counter;
}

// The key of `seed`: {low 32 bits, high 32 bits}.
CUDANET_HOST_DEVICE inline PhiloxKey philox_key(std::uint64_t seed) {
  return {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
}

// The counter offset + index as a 128-bit integer (the carry of the 64-bit sum in word 2).
CUDANET_HOST_DEVICE inline PhiloxCounter philox_counter(std::uint64_t offset, std::uint64_t index) {
  const std::uint64_t sum = offset + index;
  const std::uint32_t carry = sum < offset ? 1u : 0u;
  return {{static_cast<std::uint32_t>(sum), static_cast<std::uint32_t>(sum >> 32), carry, 0u}};
}

// Block `index` of the draw (seed, offset).
CUDANET_HOST_DEVICE inline PhiloxCounter philox_block(std::uint64_t seed, std::uint64_t offset,
                                                      std::uint64_t index) {
  return philox4x32_10(philox_counter(offset, index), philox_key(seed));
}

// ---- conversions of random words ----------------------------------------------------------------

// (w >> 8) * 2^-24: a float in [0, 1), exact.
CUDANET_HOST_DEVICE inline float word_to_unit_float(std::uint32_t w) {
  return static_cast<float>(w >> 8) * 0x1p-24f;
}
// The top 53 bits of hi:lo times 2^-53: a double in [0, 1), exact.
CUDANET_HOST_DEVICE inline std::uint64_t words_to_u53(std::uint32_t hi, std::uint32_t lo) {
  return ((std::uint64_t{hi} << 32) | lo) >> 11;
}
CUDANET_HOST_DEVICE inline double words_to_unit_double(std::uint32_t hi, std::uint32_t lo) {
  return static_cast<double>(words_to_u53(hi, lo)) * 0x1p-53;
}

namespace detail {

// Correctly rounded IEEE operations that no compiler fuses (see the note at the top).
CUDANET_HOST_DEVICE inline double dmul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
CUDANET_HOST_DEVICE inline double dadd(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
CUDANET_HOST_DEVICE inline double dsub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
CUDANET_HOST_DEVICE inline double ddiv(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
CUDANET_HOST_DEVICE inline double dsqrt(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
// x = m * 2^e with m in [0.5, 1) (exact on both devices).
CUDANET_HOST_DEVICE inline double dfrexp(double x, int* e) {
#if defined(__CUDA_ARCH__)
  return ::frexp(x, e);
#else
  return std::frexp(x, e);
#endif
}

// log(v * 2^-kBits) for an integer 1 <= v <= 2^kBits (kBits <= 53), to about 1 ulp.
// log(m * 2^e) = e ln2 + log(m), m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m-1)/(m+1).
template <int kBits>
CUDANET_HOST_DEVICE inline double log_unit(std::uint64_t v) {
  static_assert(kBits > 0 && kBits <= 53, "log_unit: v must be exact in a double");
  constexpr double kSqrtHalf = 0.70710678118654752440;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // high bits of ln 2: e * kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln 2 - kLn2Hi
  int e = 0;
  double m = dfrexp(static_cast<double>(v), &e);
  if (m < kSqrtHalf) {
    m = dmul(m, 2.0);
    e -= 1;
  }
  const double s = ddiv(dsub(m, 1.0), dadd(m, 1.0));  // |s| <= 0.1716
  const double s2 = dmul(s, s);
  // 2 atanh(s) = 2s (1 + s2/3 + s2^2/5 + ... + s2^9/19); the next term is below 2^-53.
  double p = 1.0 / 19;
  p = dadd(dmul(p, s2), 1.0 / 17);
  p = dadd(dmul(p, s2), 1.0 / 15);
  p = dadd(dmul(p, s2), 1.0 / 13);
  p = dadd(dmul(p, s2), 1.0 / 11);
  p = dadd(dmul(p, s2), 1.0 / 9);
  p = dadd(dmul(p, s2), 1.0 / 7);
  p = dadd(dmul(p, s2), 1.0 / 5);
  p = dadd(dmul(p, s2), 1.0 / 3);
  const double two_s = dmul(2.0, s);
  const double log_m = dadd(two_s, dmul(two_s, dmul(s2, p)));
  const double k = static_cast<double>(e - kBits);
  return dadd(dmul(k, kLn2Hi), dadd(dmul(k, kLn2Lo), log_m));
}

// sin and cos of 2*pi * v * 2^-kBits for an integer 0 <= v < 2^kBits, to about 1 ulp.
// The top 3 bits of v are the octant; the rest, reflected in odd octants, an angle in [0, pi/4]
// where Taylor polynomials of degree 17 (sin) and 18 (cos) are accurate to double precision.
template <int kBits>
CUDANET_HOST_DEVICE inline void sincos_turns(std::uint64_t v, double* sin_out, double* cos_out) {
  static_assert(kBits > 3 && kBits <= 53, "sincos_turns: v must be exact in a double");
  constexpr int kShift = kBits - 3;
  constexpr std::uint64_t kOctant = std::uint64_t{1} << kShift;
  constexpr double kTwoPi = 6.28318530717958647692528676655900577;
  constexpr double kScale = kTwoPi / static_cast<double>(std::uint64_t{1} << kBits);  // exact
  const unsigned octant = static_cast<unsigned>(v >> kShift) & 7u;
  std::uint64_t m = v & (kOctant - 1);
  if (octant & 1u) m = kOctant - m;
  const double a = dmul(static_cast<double>(m), kScale);  // in [0, pi/4]
  const double a2 = dmul(a, a);
  double ps = -1.0 / 355687428096000.0;  // -1/17!
  ps = dadd(dmul(ps, a2), 1.0 / 1307674368000.0);
  ps = dadd(dmul(ps, a2), -1.0 / 6227020800.0);
  ps = dadd(dmul(ps, a2), 1.0 / 39916800.0);
  ps = dadd(dmul(ps, a2), -1.0 / 362880.0);
  ps = dadd(dmul(ps, a2), 1.0 / 5040.0);
  ps = dadd(dmul(ps, a2), -1.0 / 120.0);
  ps = dadd(dmul(ps, a2), 1.0 / 6.0);
  const double s = dsub(a, dmul(a, dmul(a2, ps)));
  double pc = 1.0 / 6402373705728000.0;  // 1/18!
  pc = dadd(dmul(pc, a2), -1.0 / 20922789888000.0);
  pc = dadd(dmul(pc, a2), 1.0 / 87178291200.0);
  pc = dadd(dmul(pc, a2), -1.0 / 479001600.0);
  pc = dadd(dmul(pc, a2), 1.0 / 3628800.0);
  pc = dadd(dmul(pc, a2), -1.0 / 40320.0);
  pc = dadd(dmul(pc, a2), 1.0 / 720.0);
  pc = dadd(dmul(pc, a2), -1.0 / 24.0);
  pc = dadd(dmul(pc, a2), 1.0 / 2.0);
  const double c = dsub(1.0, dmul(a2, pc));
  // angle = octant * pi/4 + a (even octants) or (octant + 1) * pi/4 - a (odd octants).
  switch (octant) {
    case 0:
      *sin_out = s;
      *cos_out = c;
      break;
    case 1:
      *sin_out = c;
      *cos_out = s;
      break;
    case 2:
      *sin_out = c;
      *cos_out = -s;
      break;
    case 3:
      *sin_out = s;
      *cos_out = -c;
      break;
    case 4:
      *sin_out = -s;
      *cos_out = -c;
      break;
    case 5:
      *sin_out = -c;
      *cos_out = -s;
      break;
    case 6:
      *sin_out = -c;
      *cos_out = s;
      break;
    default:
      *sin_out = -s;
      *cos_out = c;
      break;
  }
}

// One Box-Muller pair from a radius and an angle integer of kBits bits each:
// r = sqrt(-2 log((radius + 1) 2^-kBits)), t = 2 pi angle 2^-kBits; z0 = r cos t, z1 = r sin t.
template <int kBits>
CUDANET_HOST_DEVICE inline void box_muller(std::uint64_t radius, std::uint64_t angle, double* z0,
                                           double* z1) {
  const double log_u = log_unit<kBits>(radius + 1);
  const double r = dsqrt(dsub(0.0, dmul(2.0, log_u)));  // 0 - x, so that log 1 gives +0
  double s, c;
  sincos_turns<kBits>(angle, &s, &c);
  *z0 = dmul(r, c);
  *z1 = dmul(r, s);
}

}  // namespace detail

// ---- element i of a draw (the stream contract above); i >= 0 ------------------------------------

CUDANET_HOST_DEVICE inline std::uint32_t uniform_u32(std::uint64_t seed, std::uint64_t offset,
                                                     std::int64_t i) {
  const auto u = static_cast<std::uint64_t>(i);
  return philox_block(seed, offset, u / 4).w[u % 4];
}

// Uniform in [0, 1), a multiple of 2^-24.
CUDANET_HOST_DEVICE inline float uniform_float(std::uint64_t seed, std::uint64_t offset,
                                               std::int64_t i) {
  return word_to_unit_float(uniform_u32(seed, offset, i));
}

// Uniform in [0, 1), a multiple of 2^-53.
CUDANET_HOST_DEVICE inline double uniform_double(std::uint64_t seed, std::uint64_t offset,
                                                 std::int64_t i) {
  const auto u = static_cast<std::uint64_t>(i);
  const PhiloxCounter x = philox_block(seed, offset, u / 2);
  const unsigned j = static_cast<unsigned>(u % 2) * 2;
  return words_to_unit_double(x.w[j], x.w[j + 1]);
}

// Standard normal (Box-Muller over 32-bit words, computed in double, rounded to float).
CUDANET_HOST_DEVICE inline float normal_float(std::uint64_t seed, std::uint64_t offset,
                                              std::int64_t i) {
  const auto u = static_cast<std::uint64_t>(i);
  const PhiloxCounter x = philox_block(seed, offset, u / 4);
  const unsigned j = static_cast<unsigned>(u % 4) / 2 * 2;
  double z0, z1;
  detail::box_muller<32>(x.w[j], x.w[j + 1], &z0, &z1);
  return static_cast<float>(u % 2 == 0 ? z0 : z1);
}

// Standard normal (Box-Muller over 53-bit uniforms).
CUDANET_HOST_DEVICE inline double normal_double(std::uint64_t seed, std::uint64_t offset,
                                                std::int64_t i) {
  const auto u = static_cast<std::uint64_t>(i);
  const PhiloxCounter x = philox_block(seed, offset, u / 2);
  double z0, z1;
  detail::box_muller<53>(words_to_u53(x.w[0], x.w[1]), words_to_u53(x.w[2], x.w[3]), &z0, &z1);
  return u % 2 == 0 ? z0 : z1;
}

// True with probability p (p in [0, 1]): uniform_float(seed, offset, i) < p. The probability is
// exactly p rounded up to a multiple of 2^-24; p = 0 never and p = 1 always gives true.
CUDANET_HOST_DEVICE inline bool bernoulli(std::uint64_t seed, std::uint64_t offset, std::int64_t i,
                                          double p) {
  return static_cast<double>(uniform_float(seed, offset, i)) < p;
}

// ---- whole blocks, shared by the CPU and CUDA fills (core/random.cc, core/cuda/random.cu) -------

// How many values of a uniform or normal draw of T one counter gives (bernoulli: always 4).
template <typename T>
CUDANET_HOST_DEVICE constexpr int philox_values_per_counter() {
  return sizeof(T) == 8 ? 2 : 4;
}

namespace detail {

// The affine map of a uniform fill, prepared on the host (core/random.cc): a value is
// T(low + span * u), and a result that rounds up to `high` becomes `below_high`, the largest T
// below it, so fills lie in [low, high) of the dtype. high and below_high are exact in T.
struct UniformRange {
  double low;
  double span;
  double high;
  double below_high;
};

template <typename T>
CUDANET_HOST_DEVICE inline T map_uniform(const UniformRange& r, double u) {
  const T t = static_cast<T>(dadd(r.low, dmul(r.span, u)));
  return t >= static_cast<T>(r.high) ? static_cast<T>(r.below_high) : t;
}

// The values of block x for a uniform fill of T (4 floats or 2 doubles).
template <typename T>
CUDANET_HOST_DEVICE inline void uniform_block(const PhiloxCounter& x, const UniformRange& r,
                                              T* out) {
  if constexpr (philox_values_per_counter<T>() == 4) {
    for (int j = 0; j < 4; ++j) out[j] = map_uniform<T>(r, word_to_unit_float(x.w[j]));
  } else {
    for (int j = 0; j < 2; ++j) {
      out[j] = map_uniform<T>(r, words_to_unit_double(x.w[2 * j], x.w[2 * j + 1]));
    }
  }
}

// The values of block x for a normal fill of T: T(mean + stddev * z).
template <typename T>
CUDANET_HOST_DEVICE inline void normal_block(const PhiloxCounter& x, double mean, double stddev,
                                             T* out) {
  double z[4];
  if constexpr (philox_values_per_counter<T>() == 4) {
    box_muller<32>(x.w[0], x.w[1], &z[0], &z[1]);
    box_muller<32>(x.w[2], x.w[3], &z[2], &z[3]);
  } else {
    box_muller<53>(words_to_u53(x.w[0], x.w[1]), words_to_u53(x.w[2], x.w[3]), &z[0], &z[1]);
  }
  for (int j = 0; j < philox_values_per_counter<T>(); ++j) {
    out[j] = static_cast<T>(dadd(mean, dmul(stddev, z[j])));
  }
}

// The 4 values of block x for a bernoulli fill of T: 1 with probability p, else 0.
template <typename T>
CUDANET_HOST_DEVICE inline void bernoulli_block(const PhiloxCounter& x, double p, T* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<double>(word_to_unit_float(x.w[j])) < p ? T(1) : T(0);
  }
}

}  // namespace detail

}  // namespace cudanet
