// Pooling, CPU reference: plain loops over every output window (see kernels/pool2d.h).
#include "kernels/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/parallel.h"

namespace cudanet::kernels::cpu {

namespace {

// The window of output (oh, ow), clipped to the input: rows [h0, h1), columns [w0, w1).
struct Window {
  std::int64_t h0, h1, w0, w1;
};

Window window_of(const Pool2dGeometry& g, std::int64_t oh, std::int64_t ow) {
  const std::int64_t hs = oh * g.stride_h - g.pad_h;
  const std::int64_t ws = ow * g.stride_w - g.pad_w;
  return {std::max<std::int64_t>(hs, 0), std::min(hs + g.kernel_h, g.in_h),
          std::max<std::int64_t>(ws, 0), std::min(ws + g.kernel_w, g.in_w)};
}

// The divisor of average pooling for a window.
std::int64_t divisor_of(const Pool2dGeometry& g, const Window& win) {
  if (g.count_include_pad) return g.kernel_h * g.kernel_w;
  return (win.h1 - win.h0) * (win.w1 - win.w0);
}

}  // namespace

// The maximum of one window (rows [h0, h1), columns [w0, w1) of plane xp) and its index. The
// first maximum wins; a NaN is the maximum (the first NaN, then nothing beats it). Written
// without branches: on random data `v > best` is a coin toss. K > 0 fixes the window width at
// compile time (a full K-wide window), so the inner loop unrolls.
template <int K, typename T>
inline void window_max(const T* xp, std::int64_t in_w, std::int64_t h0, std::int64_t h1,
                       std::int64_t w0, std::int64_t w1, T* best_out, std::int64_t* index_out) {
  T best = -std::numeric_limits<T>::infinity();
  std::int64_t best_index = -1;
  for (std::int64_t ih = h0; ih < h1; ++ih) {
    const T* row = xp + ih * in_w;
    const std::int64_t width = K > 0 ? K : w1 - w0;
    for (std::int64_t j = 0; j < width; ++j) {
      const T v = row[w0 + j];
      const bool take = (best_index < 0) | (v > best) | ((v != v) & (best == best));
      best = take ? v : best;
      best_index = take ? ih * in_w + w0 + j : best_index;
    }
  }
  *best_out = best;
  *index_out = best_index;
}

// Folds candidate v (at index i) into (best, index) with the rule of window_max.
template <typename T>
inline void fold_max(T v, std::int64_t i, T& best, std::int64_t& index) {
  const bool take = (v > best) | ((v != v) & (best == best));
  best = take ? v : best;
  index = take ? i : index;
}

// Planes are independent, so the passes spread them over the cores in chunks of about 16K
// element visits (`work` per plane).
inline std::int64_t planes_per_chunk(std::int64_t work) {
  return std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, work));
}

// LeNet's pooling: 2×2 windows, stride 2, no padding (the branch-free paths below).
inline bool is_2x2_stride_2(const Pool2dGeometry& g) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
         g.pad_w == 0;
}

// 1 when candidate v beats best under window_max's rule (v larger, or v the first NaN), else 0.
template <typename T>
inline int beats(T v, T best) {
  return static_cast<int>((v > best) | ((v != v) & (best == best)));
}

// take ? v : other, computed on the bits: GCC turns a floating-point select into a branch.
template <typename T>
inline T select(int take, T v, T other) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(Bits) == sizeof(T));
  Bits vb, ob;
  std::memcpy(&vb, &v, sizeof(T));
  std::memcpy(&ob, &other, sizeof(T));
  const Bits mask = Bits(0) - static_cast<Bits>(take);
  const Bits r = (vb & mask) | (ob & ~mask);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

// The 2×2, stride 2, unpadded case (LeNet's pooling) without window arithmetic or branches (on
// ReLU outputs a comparison is a coin toss, and mispredicted branches cost more than the work).
// The window (a b / c d) is folded as (a ⊕ b) ⊕ (c ⊕ d), which picks the same element as the
// row-major fold of window_max: the first NaN, else the first maximum.
template <bool kArgmax, typename T, typename A>
void max_pool_2x2(const T* xp, T* yp, A* ap, const Pool2dGeometry& g) {
  // Sizes in locals: the int64 argmax stores could alias g's fields, which would reload them.
  const std::int64_t in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  // One-byte offsets go through an int32 row first: a loop storing bytes vectorises 16 outputs
  // at a time, more than LeNet's rows hold, so it would run scalar.
  constexpr bool kBytes = kArgmax && sizeof(A) == 1;
  constexpr std::int64_t kChunk = 256;
  std::int32_t codes[kBytes ? kChunk : 1];
  for (std::int64_t oh = 0; oh < out_h; ++oh) {
    const std::int64_t i0 = 2 * oh * in_w;
    for (std::int64_t first = 0; first < out_w; first += kChunk) {
      const std::int64_t n = std::min(kChunk, out_w - first);
      // Restrict, and no branch in the loop: the compiler vectorises it.
      const T* __restrict r0 = xp + i0 + 2 * first;
      const T* __restrict r1 = r0 + in_w;
      T* __restrict y = yp + oh * out_w + first;
      A* __restrict index = kArgmax ? ap + oh * out_w + first : nullptr;
      std::int32_t* __restrict code = codes;
      for (std::int64_t j = 0; j < n; ++j) {
        const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        const int top = beats(b, a), bottom = beats(d, c);
        const T m0 = select(top, b, a), m1 = select(bottom, d, c);
        const int second = beats(m1, m0);
        y[j] = select(second, m1, m0);
        // Arithmetic, not `second ? … : …`: that branch made the loop 7× slower.
        if constexpr (kBytes) {  // the window offset: 0 1 / 2 3
          code[j] = top + second * (2 + bottom - top);
        } else if constexpr (kArgmax) {
          index[j] = i0 + 2 * (first + j) + top + second * (in_w + bottom - top);
        }
      }
      if constexpr (kBytes) {
        for (std::int64_t j = 0; j < n; ++j) index[j] = static_cast<A>(code[j]);
      }
    }
  }
}

// The argmax entry of output (oh, ow) for the element at plane index `index` (-1: none): the index
// itself (int64), or its offset inside the window (uint8; kNoArgmax for none).
template <typename A>
A encode_argmax(std::int64_t index, std::int64_t oh, std::int64_t ow, const Pool2dGeometry& g) {
  if constexpr (sizeof(A) == 1) {
    if (index < 0) return kNoArgmax;
    const std::int64_t dh = index / g.in_w - (oh * g.stride_h - g.pad_h);
    const std::int64_t dw = index % g.in_w - (ow * g.stride_w - g.pad_w);
    return static_cast<A>(dh * g.kernel_w + dw);
  } else {
    return index;
  }
}

template <typename T, typename A>
void max_pool2d_forward(const T* x, T* y, A* argmax, const Pool2dGeometry& g) {
  const std::int64_t grain = planes_per_chunk(g.out_plane() * g.kernel_h * g.kernel_w);
  const bool two_by_two = is_2x2_stride_2(g);
  parallel_for(g.planes(), grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * g.in_plane();
      T* yp = y + plane * g.out_plane();
      A* ap = argmax != nullptr ? argmax + plane * g.out_plane() : nullptr;
      if (two_by_two) {
        if (ap != nullptr) {
          max_pool_2x2<true>(xp, yp, ap, g);
        } else {
          max_pool_2x2<false>(xp, yp, ap, g);
        }
        continue;
      }
      for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
        for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
          const Window win = window_of(g, oh, ow);
          T best;
          std::int64_t best_index;
          const bool full_w = win.w1 - win.w0 == g.kernel_w;
          if (full_w && g.kernel_w == 2) {
            window_max<2>(xp, g.in_w, win.h0, win.h1, win.w0, win.w1, &best, &best_index);
          } else if (full_w && g.kernel_w == 3) {
            window_max<3>(xp, g.in_w, win.h0, win.h1, win.w0, win.w1, &best, &best_index);
          } else {
            window_max<0>(xp, g.in_w, win.h0, win.h1, win.w0, win.w1, &best, &best_index);
          }
          yp[oh * g.out_w + ow] = best;
          if (ap != nullptr) ap[oh * g.out_w + ow] = encode_argmax<A>(best_index, oh, ow, g);
        }
      }
    }
  });
}

// The backward of max_pool_2x2 with one-byte offsets for one plane, dense and branch-free (it
// writes every element of dx, so nothing is zeroed first): each window's four elements get dy
// where the offset names them and 0 elsewhere. Throws for an offset that names no element.
template <typename T>
void unpool_2x2(const T* dyp, const std::uint8_t* ap, T* dxp, std::int64_t plane,
                const Pool2dGeometry& g) {
  const std::int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  // The offsets go through an int32 row: a loop reading bytes vectorises 16 outputs at a time,
  // more than LeNet's rows hold, so it would run scalar.
  constexpr std::int64_t kChunk = 256;
  std::int32_t codes[kChunk];
  int bad = 0;
  for (std::int64_t oh = 0; oh < out_h; ++oh) {
    for (std::int64_t first = 0; first < out_w; first += kChunk) {
      const std::int64_t n = std::min(kChunk, out_w - first);
      const std::uint8_t* a = ap + oh * out_w + first;
      for (std::int64_t j = 0; j < n; ++j) codes[j] = a[j];
      const std::int32_t* __restrict code = codes;
      const T* __restrict d = dyp + oh * out_w + first;
      T* __restrict top = dxp + 2 * oh * in_w + 2 * first;
      T* __restrict bottom = top + in_w;
      for (std::int64_t j = 0; j < n; ++j) {
        const int offset = code[j];
        const T v = d[j];
        top[2 * j] = select(offset == 0, v, T(0));
        top[2 * j + 1] = select(offset == 1, v, T(0));
        bottom[2 * j] = select(offset == 2, v, T(0));
        bottom[2 * j + 1] = select(offset == 3, v, T(0));
        bad |= static_cast<int>(offset > 3) & static_cast<int>(offset != kNoArgmax);
      }
    }
    T* row = dxp + 2 * oh * in_w;
    if (in_w > 2 * out_w) row[in_w - 1] = row[2 * in_w - 1] = T(0);  // an odd last column
  }
  if (in_h > 2 * out_h) std::fill(dxp + (in_h - 1) * in_w, dxp + in_h * in_w, T(0));
  CUDANET_CHECK(bad == 0, ValueError, "max_pool2d_backward: a window argmax of plane ", plane,
                " is over 3 but not ", static_cast<int>(kNoArgmax),
                ": it names no element of its 2x2 window");
}

// The backward passes scatter plane by plane (planes are independent: spread over the cores); a
// plane's outputs are visited in (oh, ow) order, so overlapping windows sum in a fixed order.
template <typename T>
void max_pool2d_backward(const T* dy, const std::int64_t* argmax, T* dx, const Pool2dGeometry& g) {
  const std::int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  parallel_for(g.planes(), planes_per_chunk(out_plane), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) {
      T* dxp = dx + plane * in_plane;
      std::fill(dxp, dxp + in_plane, T(0));
      for (std::int64_t o = 0; o < out_plane; ++o) {
        const std::int64_t k = plane * out_plane + o;
        const std::int64_t index = argmax[k];
        CUDANET_CHECK(index >= -1 && index < in_plane, ValueError, "max_pool2d_backward: argmax[",
                      k, "] = ", index, " is outside [-1, ", in_plane, ")");
        if (index >= 0) dxp[index] += dy[k];
      }
    }
  });
}

template <typename T>
void max_pool2d_backward(const T* dy, const std::uint8_t* argmax, T* dx, const Pool2dGeometry& g) {
  const std::int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  const std::int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  const std::int64_t window = g.kernel_h * g.kernel_w;
  // Per offset: its row and column inside the window, and its distance from the window's first
  // element in the plane (a lookup instead of two divisions per output).
  std::int64_t row_of[256], col_of[256], delta[256];
  for (std::int64_t o = 0; o < 256; ++o) {
    row_of[o] = o / g.kernel_w;
    col_of[o] = o % g.kernel_w;
    delta[o] = row_of[o] * in_w + col_of[o];
  }
  const bool two_by_two = is_2x2_stride_2(g);
  const auto plane_backward = [&](std::int64_t plane) {
    if (two_by_two) {
      unpool_2x2(dy + plane * out_plane, argmax + plane * out_plane, dx + plane * in_plane, plane,
                 g);
      return;
    }
    T* __restrict dxp = dx + plane * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    const std::uint8_t* __restrict ap = argmax + plane * out_plane;
    const T* __restrict dyp = dy + plane * out_plane;
    for (std::int64_t oh = 0; oh < out_h; ++oh) {
      const std::int64_t hs = oh * g.stride_h - g.pad_h;
      for (std::int64_t ow = 0; ow < out_w; ++ow) {
        const std::uint8_t offset = ap[oh * out_w + ow];
        if (offset == kNoArgmax) continue;
        const std::int64_t ws = ow * g.stride_w - g.pad_w;
        // Inside the window and inside the plane (the window may reach into the padding).
        const bool ok =
            offset < window &&
            static_cast<std::uint64_t>(hs + row_of[offset]) < static_cast<std::uint64_t>(in_h) &&
            static_cast<std::uint64_t>(ws + col_of[offset]) < static_cast<std::uint64_t>(in_w);
        if (!ok) {
          CUDANET_THROW(ValueError, "max_pool2d_backward: window argmax[",
                        plane * out_plane + oh * out_w + ow, "] = ", static_cast<int>(offset),
                        " does not name an input element of its ", g.kernel_h, "x", g.kernel_w,
                        " window");
        }
        dxp[hs * in_w + ws + delta[offset]] += dyp[oh * out_w + ow];
      }
    }
  };
  parallel_for(g.planes(), planes_per_chunk(out_plane), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) plane_backward(plane);
  });
}

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dGeometry& g) {
  const std::int64_t grain = planes_per_chunk(g.out_plane() * g.kernel_h * g.kernel_w);
  parallel_for(g.planes(), grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * g.in_plane();
      for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
        for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
          const Window win = window_of(g, oh, ow);
          T sum = 0;
          for (std::int64_t ih = win.h0; ih < win.h1; ++ih) {
            for (std::int64_t iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * g.in_w + iw];
          }
          y[plane * g.out_plane() + oh * g.out_w + ow] = sum / static_cast<T>(divisor_of(g, win));
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeometry& g) {
  std::fill(dx, dx + g.planes() * g.in_plane(), T(0));
  for (std::int64_t plane = 0; plane < g.planes(); ++plane) {
    T* dxp = dx + plane * g.in_plane();
    for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
      for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
        const Window win = window_of(g, oh, ow);
        const T share =
            dy[plane * g.out_plane() + oh * g.out_w + ow] / static_cast<T>(divisor_of(g, win));
        for (std::int64_t ih = win.h0; ih < win.h1; ++ih) {
          for (std::int64_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.in_w + iw] += share;
        }
      }
    }
  }
}

#define CUDANET_INSTANTIATE_POOL2D(T)                                                             \
  template void max_pool2d_forward<T>(const T*, T*, std::int64_t*, const Pool2dGeometry&);        \
  template void max_pool2d_forward<T>(const T*, T*, std::uint8_t*, const Pool2dGeometry&);        \
  template void max_pool2d_backward<T>(const T*, const std::int64_t*, T*, const Pool2dGeometry&); \
  template void max_pool2d_backward<T>(const T*, const std::uint8_t*, T*, const Pool2dGeometry&); \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dGeometry&);                       \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dGeometry&);
CUDANET_INSTANTIATE_POOL2D(float)
CUDANET_INSTANTIATE_POOL2D(double)
#undef CUDANET_INSTANTIATE_POOL2D

}  // namespace cudanet::kernels::cpu
