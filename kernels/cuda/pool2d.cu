// Pooling, CUDA: one thread per output element in the forward passes; one thread per input
// element in the backward passes, which gather from the output windows covering it (no atomics:
// deterministic, and in the CPU reference's summation order, so bitwise equal to it).
//
// Index arithmetic runs in 32 bits when every index fits (the usual case: integer division is
// the kernels' main ALU cost), else in 64 bits.
#include <cstdint>
#include <limits>
#include <math_constants.h>

#include "kernels/cuda/launch.cuh"
#include "kernels/pool2d.h"

namespace cudanet::kernels::cuda {

namespace {

// Pool2dGeometry in the index type I.
template <typename I>
struct Geo {
  I in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool count_include_pad;

  explicit Geo(const Pool2dGeometry& g)
      : in_h(static_cast<I>(g.in_h)),
        in_w(static_cast<I>(g.in_w)),
        out_h(static_cast<I>(g.out_h)),
        out_w(static_cast<I>(g.out_w)),
        kernel_h(static_cast<I>(g.kernel_h)),
        kernel_w(static_cast<I>(g.kernel_w)),
        stride_h(static_cast<I>(g.stride_h)),
        stride_w(static_cast<I>(g.stride_w)),
        pad_h(static_cast<I>(g.pad_h)),
        pad_w(static_cast<I>(g.pad_w)),
        count_include_pad(g.count_include_pad) {}
  __device__ I in_plane() const { return in_h * in_w; }
  __device__ I out_plane() const { return out_h * out_w; }
};

// The input rows [h0, h1) and columns [w0, w1) of the window of output (oh, ow).
template <typename I>
struct Window {
  I h0, h1, w0, w1;
};

template <typename I>
__device__ __forceinline__ Window<I> window_of(const Geo<I>& g, I oh, I ow) {
  const I hs = oh * g.stride_h - g.pad_h;
  const I ws = ow * g.stride_w - g.pad_w;
  return {hs > 0 ? hs : 0, hs + g.kernel_h < g.in_h ? hs + g.kernel_h : g.in_h, ws > 0 ? ws : 0,
          ws + g.kernel_w < g.in_w ? ws + g.kernel_w : g.in_w};
}

// The outputs [first, last] along one dimension whose windows cover input position i.
template <typename I>
__device__ __forceinline__ void covering(I i, I kernel, I stride, I pad, I out, I* first, I* last) {
  const I p = i + pad;
  *first = p < kernel ? 0 : (p - kernel) / stride + 1;
  const I l = p / stride;
  *last = l < out - 1 ? l : out - 1;
}

template <typename T, typename I>
__device__ __forceinline__ T divisor_of(const Geo<I>& g, const Window<I>& w) {
  return static_cast<T>(g.count_include_pad ? g.kernel_h * g.kernel_w
                                            : (w.h1 - w.h0) * (w.w1 - w.w0));
}

// The argmax entry for input element (ih, iw) of output (oh, ow)'s window (kernels/pool2d.h):
// the plane index ih·W + iw (int64), or the offset inside the window (uint8).
template <typename A, typename I>
__device__ __forceinline__ A encode_argmax(I ih, I iw, I oh, I ow, const Geo<I>& g) {
  if constexpr (sizeof(A) == 1) {
    return static_cast<A>((ih - (oh * g.stride_h - g.pad_h)) * g.kernel_w +
                          (iw - (ow * g.stride_w - g.pad_w)));
  } else {
    return static_cast<A>(ih * g.in_w + iw);
  }
}

// A: std::int64_t or std::uint8_t, the argmax format; "none" is A(-1): -1 or kNoArgmax (255).
template <typename T, typename I, typename A>
__global__ void max_pool2d_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                          A* __restrict__ argmax, Geo<I> g, std::int64_t total) {
  CUDANET_GRID_STRIDE_LOOP(k, total) {
    const I o = static_cast<I>(k);
    const I ow = o % g.out_w;
    const I oh = (o / g.out_w) % g.out_h;
    const T* xp = x + (o / g.out_plane()) * g.in_plane();
    const Window<I> win = window_of(g, oh, ow);
    T best = static_cast<T>(-CUDART_INF);
    I best_h = -1, best_w = -1;
    for (I ih = win.h0; ih < win.h1; ++ih) {
      for (I iw = win.w0; iw < win.w1; ++iw) {
        const T v = xp[ih * g.in_w + iw];
        // Same rule as the CPU reference: first maximum wins, a NaN is the maximum.
        if (best_h < 0 || v > best || (isnan(v) && !isnan(best))) {
          best = v;
          best_h = ih;
          best_w = iw;
        }
      }
    }
    y[o] = best;
    if (argmax != nullptr) {
      argmax[o] = best_h < 0 ? static_cast<A>(-1) : encode_argmax<A>(best_h, best_w, oh, ow, g);
    }
  }
}

template <typename T, typename I, typename A>
__global__ void max_pool2d_backward_kernel(const T* __restrict__ dy, const A* __restrict__ argmax,
                                           T* __restrict__ dx, Geo<I> g, std::int64_t total) {
  CUDANET_GRID_STRIDE_LOOP(k, total) {
    const I i = static_cast<I>(k);
    const I within = i % g.in_plane();
    const I iw = within % g.in_w;
    const I ih = within / g.in_w;
    const I base = (i / g.in_plane()) * g.out_plane();
    I oh0, oh1, ow0, ow1;
    covering(ih, g.kernel_h, g.stride_h, g.pad_h, g.out_h, &oh0, &oh1);
    covering(iw, g.kernel_w, g.stride_w, g.pad_w, g.out_w, &ow0, &ow1);
    T acc = 0;
    for (I oh = oh0; oh <= oh1; ++oh) {
      for (I ow = ow0; ow <= ow1; ++ow) {
        const I o = base + oh * g.out_w + ow;
        if (argmax[o] == encode_argmax<A>(ih, iw, oh, ow, g)) acc += dy[o];
      }
    }
    dx[i] = acc;
  }
}

template <typename T, typename I>
__global__ void avg_pool2d_forward_kernel(const T* __restrict__ x, T* __restrict__ y, Geo<I> g,
                                          std::int64_t total) {
  CUDANET_GRID_STRIDE_LOOP(k, total) {
    const I o = static_cast<I>(k);
    const I ow = o % g.out_w;
    const I oh = (o / g.out_w) % g.out_h;
    const T* xp = x + (o / g.out_plane()) * g.in_plane();
    const Window<I> win = window_of(g, oh, ow);
    T sum = 0;
    for (I ih = win.h0; ih < win.h1; ++ih) {
      for (I iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * g.in_w + iw];
    }
    y[o] = sum / divisor_of<T>(g, win);
  }
}

template <typename T, typename I>
__global__ void avg_pool2d_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx, Geo<I> g,
                                           std::int64_t total) {
  CUDANET_GRID_STRIDE_LOOP(k, total) {
    const I i = static_cast<I>(k);
    const I within = i % g.in_plane();
    const I iw = within % g.in_w;
    const I ih = within / g.in_w;
    const T* dyp = dy + (i / g.in_plane()) * g.out_plane();
    I oh0, oh1, ow0, ow1;
    covering(ih, g.kernel_h, g.stride_h, g.pad_h, g.out_h, &oh0, &oh1);
    covering(iw, g.kernel_w, g.stride_w, g.pad_w, g.out_w, &ow0, &ow1);
    T acc = 0;
    for (I oh = oh0; oh <= oh1; ++oh) {
      for (I ow = ow0; ow <= ow1; ++ow) {
        acc += dyp[oh * g.out_w + ow] / divisor_of<T>(g, window_of(g, oh, ow));
      }
    }
    dx[i] = acc;
  }
}

// True when every index of the input and the output fits in int32.
bool fits_int32(const Pool2dGeometry& g) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  return g.planes() * g.in_plane() <= kMax && g.planes() * g.out_plane() <= kMax &&
         g.in_h + 2 * g.pad_h <= kMax && g.in_w + 2 * g.pad_w <= kMax;
}

// Calls launch(T{}, I{}) for the dtype and the narrowest index type that fits.
template <typename F>
void dispatch(const Pool2dGeometry& g, DType dtype, F&& launch) {
  const bool narrow = fits_int32(g);
  if (dtype == DType::kFloat64) {
    narrow ? launch(double{}, std::int32_t{}) : launch(double{}, std::int64_t{});
  } else {
    narrow ? launch(float{}, std::int32_t{}) : launch(float{}, std::int64_t{});
  }
}

}  // namespace

namespace {
template <typename A>
void launch_max_forward(const void* x, void* y, A* argmax, const Pool2dGeometry& g, DType dtype,
                        const Stream& stream) {
  const std::int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(g, dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    max_pool2d_forward_kernel<T, I, A>
        <<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            static_cast<const T*>(x), static_cast<T*>(y), argmax, Geo<I>(g), total);
    CUDANET_LAUNCH_CHECK();
  });
}

template <typename A>
void launch_max_backward(const void* dy, const A* argmax, void* dx, const Pool2dGeometry& g,
                         DType dtype, const Stream& stream) {
  const std::int64_t total = g.planes() * g.in_plane();
  if (total == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(g, dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    max_pool2d_backward_kernel<T, I, A>
        <<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            static_cast<const T*>(dy), argmax, static_cast<T*>(dx), Geo<I>(g), total);
    CUDANET_LAUNCH_CHECK();
  });
}
}  // namespace

void max_pool2d_forward(const void* x, void* y, std::int64_t* argmax, const Pool2dGeometry& g,
                        DType dtype, const Stream& stream) {
  launch_max_forward(x, y, argmax, g, dtype, stream);
}

void max_pool2d_forward(const void* x, void* y, std::uint8_t* argmax, const Pool2dGeometry& g,
                        DType dtype, const Stream& stream) {
  launch_max_forward(x, y, argmax, g, dtype, stream);
}

void max_pool2d_backward(const void* dy, const std::int64_t* argmax, void* dx,
                         const Pool2dGeometry& g, DType dtype, const Stream& stream) {
  launch_max_backward(dy, argmax, dx, g, dtype, stream);
}

void max_pool2d_backward(const void* dy, const std::uint8_t* argmax, void* dx,
                         const Pool2dGeometry& g, DType dtype, const Stream& stream) {
  launch_max_backward(dy, argmax, dx, g, dtype, stream);
}

void avg_pool2d_forward(const void* x, void* y, const Pool2dGeometry& g, DType dtype,
                        const Stream& stream) {
  const std::int64_t total = g.planes() * g.out_plane();
  if (total == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(g, dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    avg_pool2d_forward_kernel<T, I><<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const T*>(x), static_cast<T*>(y), Geo<I>(g), total);
    CUDANET_LAUNCH_CHECK();
  });
}

void avg_pool2d_backward(const void* dy, void* dx, const Pool2dGeometry& g, DType dtype,
                         const Stream& stream) {
  const std::int64_t total = g.planes() * g.in_plane();
  if (total == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(g, dtype, [&](auto t, auto i) {
    using T = decltype(t);
    using I = decltype(i);
    avg_pool2d_backward_kernel<T, I>
        <<<blocks_for(total), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            static_cast<const T*>(dy), static_cast<T*>(dx), Geo<I>(g), total);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
