// The patch matrix of the CPU convolution (kernels/cpu/conv2d_gemm.cc): im2col, its adjoint
// col2im, and the column layout they share. Internal to kernels/cpu.
//
// Both run over padded planes: a copy of the image with its zero border made explicit, so no
// window ever needs a bounds check. Two column layouts:
//   exact  output (p, q) of an image is column p·Q + q; each row of col is gathered row by row.
//   wide   (stride 1) output (p, q) is column p·Wp + q, Wp the padded width, over
//          L = (P − 1)·Wp + Q columns per image. The Wp − Q columns between two output rows are
//          junk that the GEMM computes and the callers drop (forward) or feed zeros (backward).
//          In exchange each row of col is ONE contiguous copy of the padded image: on LeNet-5's
//          C3 (Q = 10) the exact layout's short row copies cost more than the GEMM itself.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"

namespace cudanet::kernels::cpu::conv_detail {

// Scratch buffers kept per thread between calls (grow-only): allocating them afresh for every
// call cost page faults on every training step.
enum ScratchSlot { kColSlot, kOutSlot, kPaddedSlot, kSlots };

template <typename T>
T* scratch(ScratchSlot slot, std::int64_t elements) {
  thread_local std::vector<T> buffers[kSlots];
  std::vector<T>& b = buffers[slot];
  if (static_cast<std::int64_t>(b.size()) < elements) b.resize(static_cast<std::size_t>(elements));
  return b.data();
}

struct ColLayout {
  std::int64_t hp, wp;     // padded plane
  bool padded;             // whether hp × wp differs from h × w
  bool wide;               // see the top of this file
  std::int64_t per_image;  // columns per image: P·Q (exact) or L (wide)
  std::int64_t pitch;      // columns from one output row to the next: Q (exact) or Wp (wide)
};

inline ColLayout col_layout(const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  ColLayout l;
  l.hp = g.h + 2 * pr.pad_h;
  l.wp = g.w + 2 * pr.pad_w;
  l.padded = pr.pad_h != 0 || pr.pad_w != 0;
  l.wide = pr.stride_h == 1 && pr.stride_w == 1;
  l.pitch = l.wide ? l.wp : g.q;
  l.per_image = (g.p - 1) * l.pitch + g.q;
  return l;
}

// dst[0, n) = src[0, n) for short runs (a row of an image: tens of floats), as an inline loop:
// a memmove call per row cost more than the copy.
template <typename T>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
inline void
copy_short(const T* __restrict src, std::int64_t n, T* __restrict dst) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

// One image's `channels` planes, padded: copied into the middle of zeroed planes (scratch), or x
// itself when there is no padding.
template <typename T>
const T* pad_image(const T* x, std::int64_t channels, const ColLayout& l, const Conv2dGeometry& g) {
  if (!l.padded) return x;
  const Conv2dParams& pr = g.params;
  T* out = scratch<T>(kPaddedSlot, channels * l.hp * l.wp);
  std::fill(out, out + channels * l.hp * l.wp, T(0));
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t ih = 0; ih < g.h; ++ih) {
      copy_short(x + (c * g.h + ih) * g.w, g.w, out + (c * l.hp + ih + pr.pad_h) * l.wp + pr.pad_w);
    }
  }
  return out;
}

// col[(c·R + r)·S + s][column of (p, q)] (row stride ld) = xp[c][p·sh + r·dh][q·sw + s·dw] over
// the padded planes xp. In the wide layout the last window of a row ends inside the plane
// ((P − 1 + (R − 1)·dh)·Wp + (S − 1)·dw + Q − 1 < Hp·Wp), so the contiguous copy stays in it.
template <typename T>
void im2col(const T* xp, const ColLayout& l, T* col, std::int64_t ld, std::int64_t channels,
            const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  const std::int64_t sw = pr.stride_w, row_step = pr.stride_h * l.wp;
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        const T* src = xp + (c * l.hp + r * pr.dilation_h) * l.wp + s * pr.dilation_w;
        T* out = col + ((c * g.r + r) * g.s + s) * ld;
        if (l.wide) {
          std::copy(src, src + l.per_image, out);
          continue;
        }
        for (std::int64_t p = 0; p < g.p; ++p) {
          const T* in = src + p * row_step;
          T* o = out + p * g.q;
          if (sw == 1) {
            copy_short(in, g.q, o);
          } else {
            for (std::int64_t q = 0; q < g.q; ++q) o[q] = in[q * sw];
          }
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c][ih][iw] = Σ of the col entries that read it. Accumulates into
// padded planes (scratch, or dx itself without padding) and copies their middle to dx. In the
// wide layout the junk columns are added too: the callers make them zero.
template <typename T>
void col2im(const T* col, std::int64_t ld, T* dx, std::int64_t channels, const ColLayout& l,
            const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  const std::int64_t size = channels * l.hp * l.wp;
  T* dxp = l.padded ? scratch<T>(kPaddedSlot, size) : dx;
  std::fill(dxp, dxp + size, T(0));
  const std::int64_t sw = pr.stride_w, row_step = pr.stride_h * l.wp;
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        T* dst = dxp + (c * l.hp + r * pr.dilation_h) * l.wp + s * pr.dilation_w;
        const T* in = col + ((c * g.r + r) * g.s + s) * ld;
        if (l.wide) {
          T* __restrict d = dst;
          const T* __restrict i = in;
          for (std::int64_t j = 0; j < l.per_image; ++j) d[j] += i[j];
          continue;
        }
        for (std::int64_t p = 0; p < g.p; ++p) {
          T* __restrict d = dst + p * row_step;
          const T* __restrict i = in + p * g.q;
          for (std::int64_t q = 0; q < g.q; ++q) d[q * sw] += i[q];
        }
      }
    }
  }
  if (!l.padded) return;
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t ih = 0; ih < g.h; ++ih) {
      copy_short(dxp + (c * l.hp + ih + pr.pad_h) * l.wp + pr.pad_w, g.w,
                 dx + (c * g.h + ih) * g.w);
    }
  }
}

}  // namespace cudanet::kernels::cpu::conv_detail
