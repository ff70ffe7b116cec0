#include "core/random.h"

#include <algorithm>
#include <cmath>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/parallel.h"

namespace cudanet {

// ---- generators ---------------------------------------------------------------------------------
Generator& Generator::operator=(const Generator& other) {
  if (this != &other) set_state(other.state());
  return *this;
}

GeneratorState Generator::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

void Generator::set_state(const GeneratorState& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = state;
}

GeneratorState Generator::advance(std::uint64_t counters) {
  std::lock_guard<std::mutex> lock(mutex_);
  const GeneratorState drawn = state_;
  state_.offset += counters;
  return drawn;
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(std::uint64_t seed) {
  default_generator().manual_seed(seed);
}

std::uint64_t philox_counters(DType dtype, std::int64_t n) {
  CUDANET_CHECK(n >= 0, ValueError, "philox_counters: n = ", n, " must be >= 0");
  const std::uint64_t per = dtype == DType::kFloat64 ? 2 : 4;
  return (static_cast<std::uint64_t>(n) + per - 1) / per;
}

// ---- argument checks ----------------------------------------------------------------------------
namespace detail {
namespace {

void check_buffer(const char* op, const void* data, std::int64_t n) {
  CUDANET_CHECK(n >= 0, ValueError, op, ": n = ", n, " must be >= 0");
  CUDANET_CHECK(data != nullptr || n == 0, ValueError, op, ": data is null for n = ", n);
}

void check_floating(const char* op, DType dtype) {
  CUDANET_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64, ValueError, op, ": dtype ",
                dtype, " is not supported (float32 or float64)");
}

template <typename T>
UniformRange uniform_range(double low, double high) {
  const T lo = static_cast<T>(low);
  const T hi = static_cast<T>(high);
  CUDANET_CHECK(std::isfinite(lo) && std::isfinite(hi), ValueError, "fill_uniform: low = ", low,
                " and high = ", high, " must be finite in ", dtype_of<T>());
  CUDANET_CHECK(lo < hi, ValueError, "fill_uniform: low = ", low,
                " must be less than high = ", high, " (after rounding to ", dtype_of<T>(), ")");
  const double span = static_cast<double>(hi) - static_cast<double>(lo);
  CUDANET_CHECK(std::isfinite(span), ValueError, "fill_uniform: high - low = ", high, " - ", low,
                " overflows");
  return {static_cast<double>(lo), span, static_cast<double>(hi),
          static_cast<double>(std::nextafter(hi, lo))};
}

}  // namespace

UniformRange check_uniform(const void* data, DType dtype, std::int64_t n, double low, double high) {
  check_buffer("fill_uniform", data, n);
  check_floating("fill_uniform", dtype);
  return dtype == DType::kFloat32 ? uniform_range<float>(low, high)
                                  : uniform_range<double>(low, high);
}

void check_normal(const void* data, DType dtype, std::int64_t n, double mean, double stddev) {
  check_buffer("fill_normal", data, n);
  check_floating("fill_normal", dtype);
  CUDANET_CHECK(std::isfinite(mean), ValueError, "fill_normal: mean = ", mean, " must be finite");
  CUDANET_CHECK(std::isfinite(stddev) && stddev >= 0, ValueError, "fill_normal: std = ", stddev,
                " must be finite and >= 0");
}

void check_bernoulli(const void* data, DType dtype, std::int64_t n, double p) {
  check_buffer("fill_bernoulli", data, n);
  CUDANET_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kUInt8,
                ValueError, "fill_bernoulli: dtype ", dtype,
                " is not supported (float32, float64 or uint8)");
  CUDANET_CHECK(p >= 0 && p <= 1, ValueError, "fill_bernoulli: p = ", p, " must be in [0, 1]");
}

}  // namespace detail

// ---- CPU fills ----------------------------------------------------------------------------------
namespace {

// Writes data[0, n) from the Philox blocks of (seed, offset): block b gives elements
// [b * kPer, b * kPer + kPer) through make_block(block, values). Large fills are split over
// threads; the result does not depend on the split.
template <int kPer, typename T, typename MakeBlock>
void fill_blocks(T* data, std::int64_t n, std::uint64_t seed, std::uint64_t offset,
                 const MakeBlock& make_block) {
  const std::int64_t blocks = (n + kPer - 1) / kPer;
  auto run = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      T values[kPer];
      make_block(philox_block(seed, offset, static_cast<std::uint64_t>(b)), values);
      const std::int64_t first = b * kPer;
      const std::int64_t count = std::min<std::int64_t>(kPer, n - first);
      for (std::int64_t j = 0; j < count; ++j) data[first + j] = values[j];
    }
  };
  constexpr std::int64_t kBlocksPerThread = std::int64_t{1} << 16;
  parallel_for(blocks, kBlocksPerThread, run);
}

void cpu_fill_uniform(void* data, DType dtype, std::int64_t n, const detail::UniformRange& range,
                      std::uint64_t seed, std::uint64_t offset) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      fill_blocks<philox_values_per_counter<T>()>(
          static_cast<T*>(data), n, seed, offset,
          [&](const PhiloxCounter& x, T* out) { detail::uniform_block<T>(x, range, out); });
    }
  });
}

void cpu_fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                     std::uint64_t seed, std::uint64_t offset) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      fill_blocks<philox_values_per_counter<T>()>(
          static_cast<T*>(data), n, seed, offset,
          [&](const PhiloxCounter& x, T* out) { detail::normal_block<T>(x, mean, stddev, out); });
    }
  });
}

void cpu_fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t seed,
                        std::uint64_t offset) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, std::uint8_t>) {
      fill_blocks<4>(static_cast<T*>(data), n, seed, offset, [&](const PhiloxCounter& x, T* out) {
        detail::bernoulli_block<T>(x, p, out);
      });
    }
  });
}

// The stream a fill on `device` runs on: `stream` itself, or for a CUDA device given the CPU
// stream, that device's current stream.
Stream fill_stream(const char* op, Device device, const Stream& stream) {
  if (device.is_cpu()) {
    CUDANET_CHECK(stream.device().is_cpu(), ValueError, op, ": a CPU fill was given a stream of ",
                  stream.device());
    return stream;
  }
  if (stream.device().is_cpu()) return current_stream(device);
  CUDANET_CHECK(stream.device() == device, ValueError, op, ": data on ", device,
                " but the stream is on ", stream.device());
  return stream;
}

}  // namespace

void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  std::uint64_t seed, std::uint64_t offset, Device device, const Stream& stream) {
  const detail::UniformRange range = detail::check_uniform(data, dtype, n, low, high);
  const Stream s = fill_stream("fill_uniform", device, stream);
  if (device.is_cuda()) {
    cuda::fill_uniform(data, dtype, n, low, high, seed, offset, s);
  } else {
    cpu_fill_uniform(data, dtype, n, range, seed, offset);
  }
}

void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 std::uint64_t seed, std::uint64_t offset, Device device, const Stream& stream) {
  detail::check_normal(data, dtype, n, mean, stddev);
  const Stream s = fill_stream("fill_normal", device, stream);
  if (device.is_cuda()) {
    cuda::fill_normal(data, dtype, n, mean, stddev, seed, offset, s);
  } else {
    cpu_fill_normal(data, dtype, n, mean, stddev, seed, offset);
  }
}

void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t seed,
                    std::uint64_t offset, Device device, const Stream& stream) {
  detail::check_bernoulli(data, dtype, n, p);
  const Stream s = fill_stream("fill_bernoulli", device, stream);
  if (device.is_cuda()) {
    cuda::fill_bernoulli(data, dtype, n, p, seed, offset, s);
  } else {
    cpu_fill_bernoulli(data, dtype, n, p, seed, offset);
  }
}

void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high,
                  Generator& generator, Device device, const Stream& stream) {
  detail::check_uniform(data, dtype, n, low, high);
  const GeneratorState s = generator.advance(philox_counters(dtype, n));
  fill_uniform(data, dtype, n, low, high, s.seed, s.offset, device, stream);
}

void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev,
                 Generator& generator, Device device, const Stream& stream) {
  detail::check_normal(data, dtype, n, mean, stddev);
  const GeneratorState s = generator.advance(philox_counters(dtype, n));
  fill_normal(data, dtype, n, mean, stddev, s.seed, s.offset, device, stream);
}

void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, Generator& generator,
                    Device device, const Stream& stream) {
  detail::check_bernoulli(data, dtype, n, p);
  const GeneratorState s = generator.advance(philox_counters(dtype, n));
  fill_bernoulli(data, dtype, n, p, s.seed, s.offset, device, stream);
}

// ---- CPU-only build: the CUDA fills exist but throw CudaError -----------------------------------
#if !CUDANET_WITH_CUDA
namespace cuda {
namespace {
[[noreturn]] void unavailable(const Stream& stream) {
  require_device(stream.device().index());
  CUDANET_THROW(CudaError, "CUDA random fills are unavailable: cudanet was built without CUDA");
}
}  // namespace

void fill_uniform(void* data, DType dtype, std::int64_t n, double low, double high, std::uint64_t,
                  std::uint64_t, const Stream& stream) {
  cudanet::detail::check_uniform(data, dtype, n, low, high);
  unavailable(stream);
}
void fill_normal(void* data, DType dtype, std::int64_t n, double mean, double stddev, std::uint64_t,
                 std::uint64_t, const Stream& stream) {
  cudanet::detail::check_normal(data, dtype, n, mean, stddev);
  unavailable(stream);
}
void fill_bernoulli(void* data, DType dtype, std::int64_t n, double p, std::uint64_t, std::uint64_t,
                    const Stream& stream) {
  cudanet::detail::check_bernoulli(data, dtype, n, p);
  unavailable(stream);
}
}  // namespace cuda
#endif

}  // namespace cudanet
