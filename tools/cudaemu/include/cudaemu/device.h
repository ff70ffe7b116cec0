// cudaemu: CUDA's device-code vocabulary for C++ compiled by the host compiler.
//
// The emulator (tools/cudaemu/README.md) builds cudanet's .cu files (and the .cuh files they
// include) as C++ after two textual rewrites, done by tools/cudaemu/cudaemu.cmake:
//     kernel<<<grid, block, smem, stream>>>(args);
// becomes
//     kernel ->* ::cudaemu::Config(__FILE__, __LINE__, grid, block, smem, stream)(args);
// The right operand packs the launch configuration and the arguments; operator->* converts the
// arguments to the kernel's parameter types (as a launch does) and hands the launch to the
// runtime, which runs every thread of every block as a fiber on the launching host thread.
// __syncthreads() and the warp operations switch fibers; __shared__ variables are function-local
// statics (one block runs at a time on a host thread, so its threads share them), and each
// declaration is followed by a call of shared_declared() (below).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <math.h>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

namespace cudaemu {
namespace detail {
extern thread_local uint3 t_thread_idx;
extern thread_local uint3 t_block_idx;
extern thread_local dim3 t_block_dim;
extern thread_local dim3 t_grid_dim;

// Runs body once per thread of every block of the grid, now or (under stream capture) when the
// graph is launched. pointers: the kernel's pointer arguments, which must be device memory.
void launch(const char* file, int line, dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, std::function<void()> body, std::vector<const void*> pointers);

// Block and warp barriers of the calling fiber; exchange copies `bytes` of every lane's `in`
// into a warp-wide buffer and `out` from lane src_lane's (a shuffle).
void block_barrier();
void warp_barrier();
void warp_exchange(const void* in, void* out, std::size_t bytes, unsigned src_lane);
// Reports a fault of the running kernel (the launch fails with cudaErrorLaunchFailure).
void device_fault(const char* message);
// The rewrite (cudaemu.cmake) follows every `__shared__ T name[dims];` with a call of this: the
// first one of a block for a variable fills it with set bits (reading as NaN or -1, as new device
// memory does: a GPU block finds what an earlier one left), and the race checker then reports a
// read of bytes that no thread of the block has written.
void shared_declared(const void* var, std::size_t bytes);
// The calling thread's index in its block (x fastest).
inline unsigned linear_thread() {
  return t_thread_idx.x + t_block_dim.x * (t_thread_idx.y + t_block_dim.y * t_thread_idx.z);
}
}  // namespace detail

struct Config;

template <typename... A>
struct ArgPack {
  const Config* config;
  std::tuple<A...> args;
};

struct Config {
  const char* file;
  int line;
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes;
  cudaStream_t stream;

  Config(const char* f, int l, dim3 g, dim3 b, std::size_t s = 0, cudaStream_t st = nullptr)
      : file(f), line(l), grid(g), block(b), shared_bytes(s), stream(st) {}
  template <typename... A>
  ArgPack<std::decay_t<A>...> operator()(A&&... a) const {
    return {this, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
  }
};

template <typename T>
void collect_pointer(const T& value, std::vector<const void*>& out) {
  if constexpr (std::is_pointer_v<T>) out.push_back(static_cast<const void*>(value));
}

// kernel ->* Config(...)(args): the launch.
template <typename... P, typename... A>
void operator->*(void (*kernel)(P...), ArgPack<A...>&& pack) {
  static_assert(sizeof...(P) == sizeof...(A), "a kernel launch with the wrong number of arguments");
  using Params = std::tuple<std::decay_t<P>...>;
  Params params = std::apply([](auto&&... a) { return Params(a...); }, pack.args);
  std::vector<const void*> pointers;
  std::apply([&](const auto&... p) { (collect_pointer(p, pointers), ...); }, params);
  const Config& c = *pack.config;
  detail::launch(
      c.file, c.line, c.grid, c.block, c.shared_bytes, c.stream,
      [kernel, params]() { std::apply(kernel, params); }, std::move(pointers));
}

// A shuffle of any trivially copyable value (cub::ShuffleIndex, __shfl_sync).
template <typename T>
T shuffle(T value, unsigned src_lane) {
  static_assert(std::is_trivially_copyable_v<T>, "shuffles move trivially copyable values");
  T out;
  detail::warp_exchange(&value, &out, sizeof(T), src_lane);
  return out;
}

}  // namespace cudaemu

#define threadIdx (static_cast<const uint3&>(::cudaemu::detail::t_thread_idx))
#define blockIdx (static_cast<const uint3&>(::cudaemu::detail::t_block_idx))
#define blockDim (static_cast<const dim3&>(::cudaemu::detail::t_block_dim))
#define gridDim (static_cast<const dim3&>(::cudaemu::detail::t_grid_dim))
constexpr int warpSize = 32;

inline void __syncthreads() {
  ::cudaemu::detail::block_barrier();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  ::cudaemu::detail::warp_barrier();
}
template <typename T>
T __shfl_sync(unsigned, T value, int src_lane, int = 32) {
  return ::cudaemu::shuffle(value, static_cast<unsigned>(src_lane) % 32u);
}

// Intrinsics: the host compiler builds in ISO C++ mode (no FMA contraction), so the plain
// operators are the correctly rounded _rn operations.
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32);
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline double __dmul_rn(double a, double b) {
  return a * b;
}
inline double __dadd_rn(double a, double b) {
  return a + b;
}
inline double __dsub_rn(double a, double b) {
  return a - b;
}
inline double __ddiv_rn(double a, double b) {
  return a / b;
}
inline double __dsqrt_rn(double a) {
  return std::sqrt(a);
}
inline float __expf(float x) {
  return std::exp(x);
}
inline float __logf(float x) {
  return std::log(x);
}
inline float __fdividef(float a, float b) {
  return a / b;
}
inline float rsqrtf(float x) {
  return 1.0f / std::sqrt(x);
}
inline double rsqrt(double x) {
  return 1.0 / std::sqrt(x);
}
inline double __longlong_as_double(long long v) {
  double d;
  std::memcpy(&d, &v, sizeof d);
  return d;
}
inline long long __double_as_longlong(double d) {
  long long v;
  std::memcpy(&v, &d, sizeof v);
  return v;
}
inline unsigned __float_as_uint(float f) {
  unsigned v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}
inline float __uint_as_float(unsigned v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline int __float_as_int(float f) {
  return static_cast<int>(__float_as_uint(f));
}
inline float __int_as_float(int v) {
  return __uint_as_float(static_cast<unsigned>(v));
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
// atomicAdd, with the compiler's __atomic builtins: the data-race checker sees one atomic access
// (the instrumentation turns them into calls it answers), not a load and a store.
template <typename T>
T atomicAdd(T* address, T value) {
  static_assert(std::is_arithmetic_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "atomicAdd of 4- and 8-byte integers and floating-point values");
  if constexpr (std::is_integral_v<T>) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    auto* bits = reinterpret_cast<Bits*>(address);
    Bits expected = __atomic_load_n(bits, __ATOMIC_RELAXED);
    for (;;) {
      T old;
      std::memcpy(&old, &expected, sizeof old);
      const T sum = old + value;
      Bits desired;
      std::memcpy(&desired, &sum, sizeof desired);
      if (__atomic_compare_exchange_n(bits, &expected, desired, false, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
        return old;
      }
    }
  }
}
