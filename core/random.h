// Random fills of raw buffers and the generators that name the draws.
//
// A draw is named by (seed, offset); the values follow the stream contract of core/philox.h, so a
// CPU fill and a CUDA fill with the same (seed, offset) write the same bits. A Generator hands out
// (seed, offset) pairs: each draw reserves the Philox counters it reads, so consecutive draws never
// overlap, and its state (two integers) is saved with a checkpoint to resume the same stream.
//
//   auto s = default_generator().advance(philox_counters(DType::kFloat32, n));
//   fill_normal(ptr, DType::kFloat32, n, 0.0, 0.01, s.seed, s.offset, device, stream);
//
// Note: fills of float32 and float64 (and uint8 for bernoulli) are supported; a float64 uniform or
// normal fill reads 2 values per counter, every other fill 4, so a float32 and a float64 fill with
// the same (seed, offset) differ. CPU fills run synchronously on the calling thread; CUDA fills
// are queued on `stream` (a CPU stream there means the device's current stream).
#pragma once

#include <cstdint>
#include <mutex>

#include "core/device.h"
#include "core/dtype.h"
#include "core/philox.h"
#include "core/stream.h"

namespace cudanet {

// The state of a Generator: what a checkpoint saves.
struct GeneratorState {
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;  // the next unused Philox counter

  friend bool operator==(const GeneratorState& a, const GeneratorState& b) {
    return a.seed == b.seed && a.offset == b.offset;
  }
  friend bool operator!=(const GeneratorState& a, const GeneratorState& b) { return !(a == b); }
};

// A seed and a running counter offset. Thread-safe: concurrent advance() calls get disjoint
// counter ranges. The offset wraps modulo 2^64 (after 2^66 values: never in practice).
class Generator {
 public:
  static constexpr std::uint64_t kDefaultSeed = 67280421310721ull;

  explicit Generator(std::uint64_t seed = kDefaultSeed) : state_{seed, 0} {}
  Generator(const Generator& other) : state_(other.state()) {}
  Generator& operator=(const Generator& other);

  std::uint64_t seed() const { return state().seed; }
  std::uint64_t offset() const { return state().offset; }
  // Restarts the stream: this seed, offset 0.
  void manual_seed(std::uint64_t seed) { set_state({seed, 0}); }

  GeneratorState state() const;
  void set_state(const GeneratorState& state);

  // Reserves `counters` Philox counters for one draw: returns the (seed, offset) to draw with and
  // moves the offset past them.
  GeneratorState advance(std::uint64_t counters);

 private:
  mutable std::mutex mutex_;
  GeneratorState state_;
};

// The process-wide generator (seeded with Generator::kDefaultSeed at start-up).
Generator& default_generator();
// default_generator().manual_seed(seed).
void manual_seed(std::uint64_t seed);

// The number of Philox counters a fill of n elements of `dtype` reads (at most): ceil(n / 2) for
// float64, ceil(n / 4) otherwise.
std::uint64_t philox_counters(DType dtype, std::int64_t n);

// Fills data[0, n) with values uniform in [low, high) of the dtype (float32 or float64): element
// i is map(uniform_float(seed, offset, i)) for float32, map(uniform_double(...)) for float64,
// where map(u) = T(T(low) + (T(high) - T(low)) * u) in double, kept below T(high).
// Throws ValueError unless low < high after rounding to the dtype, both finite.
void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  std::uint64_t seed, std::uint64_t offset, Device device,
                  const Stream& stream = Stream());
// Fills data[0, n) with T(mean + stddev * z), z = normal_float / normal_double(seed, offset, i)
// computed in double. Throws ValueError unless stddev >= 0 and both are finite.
void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 std::uint64_t seed, std::uint64_t offset, Device device,
                 const Stream& stream = Stream());
// Fills data[0, n) with 1 where bernoulli(seed, offset, i, p), else 0, in float32, float64 or
// uint8 (the mask is the same in every dtype). Throws ValueError unless 0 <= p <= 1.
void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t seed,
                    std::uint64_t offset, Device device, const Stream& stream = Stream());

// The same fills drawing from `generator`, which advances by philox_counters(dtype, n) (nothing
// when the arguments are rejected).
void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  Generator& generator, Device device, const Stream& stream = Stream());
void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 Generator& generator, Device device, const Stream& stream = Stream());
void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, Generator& generator,
                    Device device, const Stream& stream = Stream());

namespace cuda {
// The device fills (core/cuda/random.cu): `data` is memory of stream.device(), written by kernels
// queued on `stream`. In a CPU-only build they throw CudaError.
void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  std::uint64_t seed, std::uint64_t offset, const Stream& stream);
void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 std::uint64_t seed, std::uint64_t offset, const Stream& stream);
void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t seed,
                    std::uint64_t offset, const Stream& stream);
}  // namespace cuda

namespace detail {
// Argument checks shared by the CPU and CUDA fills; each throws ValueError naming the bad value.
UniformRange check_uniform(const void* data, DType dtype, std::int64_t n, double low, double high);
void check_normal(const void* data, DType dtype, std::int64_t n, double mean, double stddev);
void check_bernoulli(const void* data, DType dtype, std::int64_t n, double p);
}  // namespace detail

}  // namespace cudanet
