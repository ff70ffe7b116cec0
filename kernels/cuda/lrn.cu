// Local response normalisation, CUDA: one thread per element, summing its channel window
// directly (n is small: 5 in AlexNet). Neighbouring threads take neighbouring spatial positions,
// so every load of the window is coalesced and the window's rows are shared through the caches.
// Index arithmetic runs in 32 bits when the tensor allows (I = int32_t), else in 64.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/cuda/launch.cuh"
#include "kernels/lrn.h"

namespace cudanet::kernels::cuda {

namespace {

__device__ __forceinline__ float pow_of(float a, float b) {
  return powf(a, b);
}
__device__ __forceinline__ double pow_of(double a, double b) {
  return ::pow(a, b);
}

// scale of element i (channel c; base = channel 0 of its batch and position): the sum over the
// window [c - size/2, c + (size-1)/2] clipped, in this order. The forward and a backward that
// recomputes the scale both call it, so the two agree bit for bit.
template <typename T, typename I>
__device__ __forceinline__ T window_scale(const T* __restrict__ x, I base, I c, I channels, I inner,
                                          I size, T coef, T k) {
  const I lo = c - size / 2 > 0 ? c - size / 2 : 0;
  const I hi = c + (size - 1) / 2 < channels - 1 ? c + (size - 1) / 2 : channels - 1;
  T sum = 0;
  for (I cc = lo; cc <= hi; ++cc) {
    const T v = x[base + cc * inner];
    sum += v * v;
  }
  return k + coef * sum;
}

template <typename T, typename I>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                   T* __restrict__ scale, I channels, I inner, I size,
                                   std::int64_t total, T coef, T k, T neg_beta) {
  CUDANET_GRID_STRIDE_LOOP(idx, total) {
    const I i = static_cast<I>(idx);
    const I c = (i / inner) % channels;
    const I base = i - c * inner;  // channel 0 of this (batch, position)
    const T sc = window_scale(x, base, c, channels, inner, size, coef, k);
    y[i] = x[i] * pow_of(sc, neg_beta);
    if (scale != nullptr) scale[i] = sc;
  }
}

// scale == nullptr: each scale is recomputed from x with the forward's window_scale (scale_coef
// and k are the forward's constants).
template <typename T, typename I>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                    const T* __restrict__ y, const T* __restrict__ scale,
                                    T* __restrict__ dx, I channels, I inner, I size,
                                    std::int64_t total, T coef, T neg_beta, T scale_coef, T k) {
  CUDANET_GRID_STRIDE_LOOP(idx, total) {
    const I i = static_cast<I>(idx);
    const I j = (i / inner) % channels;
    const I base = i - j * inner;
    const I lo = j - (size - 1) / 2 > 0 ? j - (size - 1) / 2 : 0;
    const I hi = j + size / 2 < channels - 1 ? j + size / 2 : channels - 1;
    T acc = 0;
    for (I c = lo; c <= hi; ++c) {
      const I ic = base + c * inner;
      const T sc = scale != nullptr
                       ? scale[ic]
                       : window_scale(x, base, c, channels, inner, size, scale_coef, k);
      acc += dy[ic] * y[ic] / sc;
    }
    const T sj = scale != nullptr ? scale[i]
                                  : window_scale(x, base, j, channels, inner, size, scale_coef, k);
    dx[i] = dy[i] * pow_of(sj, neg_beta) - coef * x[i] * acc;
  }
}

// The window size the kernels see: size clipped to 2c + 2, which covers every channel on both
// sides just as well (the coefficients still use the true size) and keeps the bounds small.
std::int64_t window_of(const LrnGeometry& g) {
  return std::min(g.size, 2 * g.c + 2);
}

// True when every index fits in int32.
bool fits_int32(const LrnGeometry& g) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  return g.n * g.c * g.inner <= kMax && 2 * g.c + 2 <= kMax;
}

template <typename T, typename I>
void launch_forward(const void* x, void* y, void* scale, const LrnGeometry& g,
                    const Stream& stream) {
  const std::int64_t total = g.n * g.c * g.inner;
  lrn_forward_kernel<T, I><<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
      static_cast<const T*>(x), static_cast<T*>(y), static_cast<T*>(scale), static_cast<I>(g.c),
      static_cast<I>(g.inner), static_cast<I>(window_of(g)), total,
      static_cast<T>(g.alpha / static_cast<double>(g.size)), static_cast<T>(g.k),
      static_cast<T>(-g.beta));
  CUDANET_LAUNCH_CHECK();
}

template <typename T, typename I>
void launch_backward(const void* dy, const void* x, const void* y, const void* scale, void* dx,
                     const LrnGeometry& g, const Stream& stream) {
  const std::int64_t total = g.n * g.c * g.inner;
  lrn_backward_kernel<T, I><<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
      static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(y),
      static_cast<const T*>(scale), static_cast<T*>(dx), static_cast<I>(g.c),
      static_cast<I>(g.inner), static_cast<I>(window_of(g)), total,
      static_cast<T>(2.0 * g.alpha * g.beta / static_cast<double>(g.size)), static_cast<T>(-g.beta),
      static_cast<T>(g.alpha / static_cast<double>(g.size)), static_cast<T>(g.k));
  CUDANET_LAUNCH_CHECK();
}

}  // namespace

void lrn_forward(const void* x, void* y, void* scale, const LrnGeometry& g, DType dtype,
                 const Stream& stream) {
  if (g.n * g.c * g.inner == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const bool narrow = fits_int32(g);
  if (dtype == DType::kFloat64) {
    narrow ? launch_forward<double, std::int32_t>(x, y, scale, g, stream)
           : launch_forward<double, std::int64_t>(x, y, scale, g, stream);
  } else {
    narrow ? launch_forward<float, std::int32_t>(x, y, scale, g, stream)
           : launch_forward<float, std::int64_t>(x, y, scale, g, stream);
  }
}

void lrn_backward(const void* dy, const void* x, const void* y, const void* scale, void* dx,
                  const LrnGeometry& g, DType dtype, const Stream& stream) {
  if (g.n * g.c * g.inner == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const bool narrow = fits_int32(g);
  if (dtype == DType::kFloat64) {
    narrow ? launch_backward<double, std::int32_t>(dy, x, y, scale, dx, g, stream)
           : launch_backward<double, std::int64_t>(dy, x, y, scale, dx, g, stream);
  } else {
    narrow ? launch_backward<float, std::int32_t>(dy, x, y, scale, dx, g, stream)
           : launch_backward<float, std::int64_t>(dy, x, y, scale, dx, g, stream);
  }
}

}  // namespace cudanet::kernels::cuda
