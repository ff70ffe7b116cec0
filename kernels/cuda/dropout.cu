// Dropout, CUDA: each thread takes groups of 4 elements, one Philox block per group (elements
// 4b .. 4b+3 read lanes 0..3 of block b: the stream contract of core/philox.h), so the mask is
// the CPU reference's bit for bit. Whole groups move as 16-byte (float) or 2x16-byte (double)
// loads and one 4-byte mask store when the pointers are aligned.
#include <cstdint>

#include "core/philox.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/dropout.h"

namespace cudanet::kernels::cuda {

namespace {

template <typename T>
struct alignas(16) Quad {
  T v[4];
};
struct alignas(4) MaskQuad {
  std::uint8_t v[4];
};

__device__ __forceinline__ bool aligned_to(const void* p, std::uintptr_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

// keep[j] = bernoulli(seed, offset, 4b + j, keep_prob) of core/philox.h, lane by lane.
__device__ __forceinline__ void keep_quad(std::uint64_t seed, std::uint64_t offset, std::int64_t b,
                                          double keep_prob, bool keep[4]) {
  const PhiloxCounter bits = philox_block(seed, offset, static_cast<std::uint64_t>(b));
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    keep[j] = static_cast<double>(word_to_unit_float(bits.w[j])) < keep_prob;
  }
}

// out_i = keep_i ? in_i * scale : 0 (and mask_i = keep_i unless mask is null), for the Philox
// stream at offset + *offset_shift when the shift is given: a replayed CUDA graph draws fresh
// masks through it (see DropoutReplayShifts). The forward (in = x) and the mask-free backward
// (in = dy, the same draw) are this one body under their own kernel names.
template <typename T>
__device__ __forceinline__ void apply_dropout(const T* __restrict__ in, T* __restrict__ out,
                                              std::uint8_t* __restrict__ mask, std::int64_t n,
                                              double keep_prob, T scale, std::uint64_t seed,
                                              std::uint64_t offset,
                                              const std::uint64_t* __restrict__ offset_shift) {
  if (offset_shift != nullptr) offset += *offset_shift;
  // A null mask is not stored; aligned_to(nullptr, 4) holds.
  const bool vector = aligned_to(in, 16) && aligned_to(out, 16) && aligned_to(mask, 4);
  const std::int64_t groups = (n + 3) / 4;
  CUDANET_GRID_STRIDE_LOOP(b, groups) {
    bool keep[4];
    keep_quad(seed, offset, b, keep_prob, keep);
    const std::int64_t first = 4 * b;
    if (vector && first + 4 <= n) {
      Quad<T> q = reinterpret_cast<const Quad<T>*>(in)[b];
      MaskQuad m;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        q.v[j] = keep[j] ? q.v[j] * scale : T(0);
        m.v[j] = keep[j] ? 1 : 0;
      }
      reinterpret_cast<Quad<T>*>(out)[b] = q;
      if (mask != nullptr) reinterpret_cast<MaskQuad*>(mask)[b] = m;
    } else {
      for (int j = 0; j < 4 && first + j < n; ++j) {
        out[first + j] = keep[j] ? in[first + j] * scale : T(0);
        if (mask != nullptr) mask[first + j] = keep[j] ? 1 : 0;
      }
    }
  }
}

template <typename T>
__global__ void dropout_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                       std::uint8_t* __restrict__ mask, std::int64_t n,
                                       double keep_prob, T scale, std::uint64_t seed,
                                       std::uint64_t offset,
                                       const std::uint64_t* __restrict__ offset_shift) {
  apply_dropout(x, y, mask, n, keep_prob, scale, seed, offset, offset_shift);
}

template <typename T>
__global__ void dropout_backward_kernel(const T* __restrict__ dy,
                                        const std::uint8_t* __restrict__ mask, T* __restrict__ dx,
                                        std::int64_t n, T scale) {
  const bool vector = aligned_to(dy, 16) && aligned_to(dx, 16) && aligned_to(mask, 4);
  const std::int64_t groups = (n + 3) / 4;
  CUDANET_GRID_STRIDE_LOOP(b, groups) {
    const std::int64_t first = 4 * b;
    if (vector && first + 4 <= n) {
      Quad<T> q = reinterpret_cast<const Quad<T>*>(dy)[b];
      const MaskQuad m = reinterpret_cast<const MaskQuad*>(mask)[b];
#pragma unroll
      for (int j = 0; j < 4; ++j) q.v[j] = m.v[j] != 0 ? q.v[j] * scale : T(0);
      reinterpret_cast<Quad<T>*>(dx)[b] = q;
    } else {
      for (int j = 0; j < 4 && first + j < n; ++j) {
        dx[first + j] = mask[first + j] != 0 ? dy[first + j] * scale : T(0);
      }
    }
  }
}

// The backward without a mask: keep regenerated exactly as the forward drew it (the same shift
// slot as the forward it mirrors).
template <typename T>
__global__ void dropout_backward_regenerate_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                                   std::int64_t n, double keep_prob, T scale,
                                                   std::uint64_t seed, std::uint64_t offset,
                                                   const std::uint64_t* __restrict__ offset_shift) {
  apply_dropout(dy, dx, static_cast<std::uint8_t*>(nullptr), n, keep_prob, scale, seed, offset,
                offset_shift);
}

struct ReplayShifts {
  std::uint64_t v[DropoutReplayShifts::kMaxGenerators];
};

__global__ void write_replay_shifts_kernel(std::uint64_t* __restrict__ dst, ReplayShifts values,
                                           int n) {
  const int i = static_cast<int>(threadIdx.x);
  // Constant indices only: a parameter array indexed by the thread would be copied to local
  // memory first.
#pragma unroll
  for (int j = 0; j < DropoutReplayShifts::kMaxGenerators; ++j) {
    if (j == i && j < n) dst[j] = values.v[j];
  }
}

}  // namespace

void write_replay_shifts(std::uint64_t* dst, const std::uint64_t* values, int n,
                         const Stream& stream) {
  CUDANET_CHECK(n >= 0 && n <= DropoutReplayShifts::kMaxGenerators, ValueError,
                "write_replay_shifts: ", n, " slots");
  if (n == 0) return;
  ReplayShifts v{};
  for (int i = 0; i < n; ++i) v.v[i] = values[i];
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  write_replay_shifts_kernel<<<1, 32, 0, raw_stream(stream)>>>(dst, v, n);
  CUDANET_LAUNCH_CHECK();
}

void dropout_forward(const void* x, void* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     double scale, std::uint64_t seed, std::uint64_t offset, DType dtype,
                     const Stream& stream, const std::uint64_t* offset_shift) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = blocks_for((n + 3) / 4);
  if (dtype == DType::kFloat64) {
    dropout_forward_kernel<double><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const double*>(x), static_cast<double*>(y), mask, n, keep_prob, scale, seed,
        offset, offset_shift);
  } else {
    dropout_forward_kernel<float><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const float*>(x), static_cast<float*>(y), mask, n, keep_prob,
        static_cast<float>(scale), seed, offset, offset_shift);
  }
  CUDANET_LAUNCH_CHECK();
}

void dropout_backward(const void* dy, const std::uint8_t* mask, void* dx, std::int64_t n,
                      double scale, DType dtype, const Stream& stream) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = blocks_for((n + 3) / 4);
  if (dtype == DType::kFloat64) {
    dropout_backward_kernel<double><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const double*>(dy), mask, static_cast<double*>(dx), n, scale);
  } else {
    dropout_backward_kernel<float><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const float*>(dy), mask, static_cast<float*>(dx), n, static_cast<float>(scale));
  }
  CUDANET_LAUNCH_CHECK();
}

void dropout_backward(const void* dy, void* dx, std::int64_t n, double keep_prob, double scale,
                      std::uint64_t seed, std::uint64_t offset, DType dtype, const Stream& stream,
                      const std::uint64_t* offset_shift) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = blocks_for((n + 3) / 4);
  if (dtype == DType::kFloat64) {
    dropout_backward_regenerate_kernel<double><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const double*>(dy), static_cast<double*>(dx), n, keep_prob, scale, seed, offset,
        offset_shift);
  } else {
    dropout_backward_regenerate_kernel<float><<<blocks, kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const float*>(dy), static_cast<float*>(dx), n, keep_prob,
        static_cast<float>(scale), seed, offset, offset_shift);
  }
  CUDANET_LAUNCH_CHECK();
}

}  // namespace cudanet::kernels::cuda
