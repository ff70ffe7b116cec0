// The fast CPU convolution: im2col over a chunk of images + one BLAS GEMM per group.
//
// The reference (kernels/cpu/conv2d.cc) is the oracle; this is what training on the CPU runs.
// For a chunk of B images and group g, col is the [C/g·R·S, B·P·Q] patch matrix (each image's
// patches in its own column range) and Y_g, dY_g are [K/g, B·P·Q]:
//   forward          Y_g   = W_g · col           (then scattered to y[n, g·K/g + k] + bias)
//   backward data    col   = W_gᵀ · dY_g         (then col2im into dx)
//   backward filter  dW_g += dY_g · colᵀ         (chunks added in order: deterministic)
// The GEMMs go to OpenBLAS (kernels/gemm.h, cpu::gemm_blas), which spreads them over the cores;
// im2col / col2im / the scatters run per image on a few threads. Chunks keep col under
// kMaxColElements, so memory stays bounded for large batches.
#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"

namespace cudanet::kernels::cpu {

namespace {

constexpr std::int64_t kMaxColElements = std::int64_t{1} << 24;  // 64 MiB of float32

// body(i) for each image i of a chunk, spread over the cores.
template <typename Body>
void for_each_image(std::int64_t n, Body&& body) {
  parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) body(i);
  });
}

// The output columns q whose input column q·stride − pad + offset lies in [0, w): [first, last).
inline void valid_columns(std::int64_t q_count, std::int64_t w, std::int64_t stride,
                          std::int64_t pad, std::int64_t offset, std::int64_t* first,
                          std::int64_t* last) {
  const std::int64_t shift = offset - pad;  // iw = q·stride + shift
  std::int64_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  std::int64_t hi = w - shift <= 0 ? 0 : (w - shift + stride - 1) / stride;
  *first = std::min(lo, q_count);
  *last = std::clamp(hi, *first, q_count);
}

// col[(c·R + r)·S + s][p·Q + q] (row stride ld) = x[c][p·sh − ph + r·dh][q·sw − pw + s·dw], 0
// outside the image. Rows are copied in one run where the stride is 1.
template <typename T>
#if defined(__GNUC__) && !defined(__clang__)
// Keep GCC from turning the short row copies back into memmove calls.
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
void im2col(const T* x, T* col, std::int64_t ld, std::int64_t channels, const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        T* out = col + ((c * g.r + r) * g.s + s) * ld;
        std::int64_t q0 = 0, q1 = 0;
        valid_columns(g.q, g.w, pr.stride_w, pr.pad_w, s * pr.dilation_w, &q0, &q1);
        const std::int64_t shift = s * pr.dilation_w - pr.pad_w;
        for (std::int64_t p = 0; p < g.p; ++p) {
          const std::int64_t ih = p * pr.stride_h - pr.pad_h + r * pr.dilation_h;
          T* row = out + p * g.q;
          if (ih < 0 || ih >= g.h) {
            std::fill(row, row + g.q, T(0));
            continue;
          }
          const T* xrow = x + (c * g.h + ih) * g.w;
          std::fill(row, row + q0, T(0));
          if (pr.stride_w == 1) {
            // Rows are short (tens of floats): an inline loop beats a memmove call per row.
            const T* src = xrow + shift;
            for (std::int64_t q = q0; q < q1; ++q) row[q] = src[q];
          } else {
            for (std::int64_t q = q0; q < q1; ++q) row[q] = xrow[q * pr.stride_w + shift];
          }
          std::fill(row + q1, row + g.q, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c][ih][iw] = Σ of the col entries that read it (dx zeroed first).
template <typename T>
void col2im(const T* col, std::int64_t ld, T* dx, std::int64_t channels, const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  std::fill(dx, dx + channels * g.h * g.w, T(0));
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        const T* in = col + ((c * g.r + r) * g.s + s) * ld;
        std::int64_t q0 = 0, q1 = 0;
        valid_columns(g.q, g.w, pr.stride_w, pr.pad_w, s * pr.dilation_w, &q0, &q1);
        const std::int64_t shift = s * pr.dilation_w - pr.pad_w;
        for (std::int64_t p = 0; p < g.p; ++p) {
          const std::int64_t ih = p * pr.stride_h - pr.pad_h + r * pr.dilation_h;
          if (ih < 0 || ih >= g.h) continue;
          T* dxrow = dx + (c * g.h + ih) * g.w;
          const T* row = in + p * g.q;
          for (std::int64_t q = q0; q < q1; ++q) dxrow[q * pr.stride_w + shift] += row[q];
        }
      }
    }
  }
}

// Row-major C[m×n] = alpha·op(A)·op(B) + beta·C with leading dimensions.
template <typename T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = ta;
  p.trans_b = tb;
  p.lda = lda;
  p.ldb = ldb;
  p.ldc = ldc;
  gemm_blas<T>(p, T(1), a, b, beta, c);
}

// Scratch buffers kept per thread between calls (grow-only, at most kMaxColElements each):
// allocating them afresh for every call cost page faults on every training step.
template <typename T>
T* scratch(int slot, std::int64_t elements) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& b = buffers[slot];
  if (static_cast<std::int64_t>(b.size()) < elements) b.resize(static_cast<std::size_t>(elements));
  return b.data();
}

// Copies the kg output-channel planes of image n, group grp of dy ([N, K, P·Q]) into columns
// [i·P·Q, (i + 1)·P·Q) of dyt ([kg, ld]): dY_g of the chunk, one image at a time.
template <typename T>
void gather_dy(const T* dy, T* dyt, std::int64_t n, std::int64_t i, std::int64_t grp,
               std::int64_t ld, const Conv2dGeometry& g) {
  const std::int64_t kg = g.k_per_group(), pq = g.p * g.q;
  for (std::int64_t k = 0; k < kg; ++k) {
    const T* src = dy + (n * g.k + grp * kg + k) * pq;
    std::copy(src, src + pq, dyt + k * ld + i * pq);
  }
}

struct Chunking {
  std::int64_t images;  // per chunk
  std::int64_t crs, pq;
};

Chunking chunking(const Conv2dGeometry& g) {
  const std::int64_t crs = g.c_per_group() * g.r * g.s, pq = g.p * g.q;
  const std::int64_t per_image = std::max<std::int64_t>(crs * pq, 1);
  return {std::clamp<std::int64_t>(kMaxColElements / per_image, 1, std::max<std::int64_t>(g.n, 1)),
          crs, pq};
}

}  // namespace

template <typename T>
void conv2d_forward_gemm(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const Chunking ch = chunking(g);
  for (std::int64_t n0 = 0; n0 < g.n; n0 += ch.images) {
    const std::int64_t nb = std::min(ch.images, g.n - n0), ld = nb * ch.pq;
    T* col = scratch<T>(0, ch.crs * ld);
    T* out = scratch<T>(1, kg * ld);
    for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
      for_each_image(nb, [&](std::int64_t i) {
        im2col(x + ((n0 + i) * g.c + grp * cg) * g.h * g.w, col + i * ch.pq, ld, cg, g);
      });
      gemm<T>(false, false, kg, ld, ch.crs, w + grp * kg * ch.crs, ch.crs, col, ld, T(0), out, ld);
      for_each_image(nb, [&](std::int64_t i) {
        for (std::int64_t k = 0; k < kg; ++k) {
          const T b = bias != nullptr ? bias[grp * kg + k] : T(0);
          const T* src = out + k * ld + i * ch.pq;
          T* dst = y + ((n0 + i) * g.k + grp * kg + k) * ch.pq;
          for (std::int64_t j = 0; j < ch.pq; ++j) dst[j] = src[j] + b;
        }
      });
    }
  }
}

template <typename T>
void conv2d_backward_data_gemm(const T* dy, const T* w, T* dx, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const Chunking ch = chunking(g);
  for (std::int64_t n0 = 0; n0 < g.n; n0 += ch.images) {
    const std::int64_t nb = std::min(ch.images, g.n - n0), ld = nb * ch.pq;
    T* col = scratch<T>(0, ch.crs * ld);
    T* dyt = scratch<T>(2, kg * ld);
    for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
      for_each_image(nb, [&](std::int64_t i) { gather_dy(dy, dyt, n0 + i, i, grp, ld, g); });
      gemm<T>(true, false, ch.crs, ld, kg, w + grp * kg * ch.crs, ch.crs, dyt, ld, T(0), col, ld);
      for_each_image(nb, [&](std::int64_t i) {
        col2im(col + i * ch.pq, ld, dx + ((n0 + i) * g.c + grp * cg) * g.h * g.w, cg, g);
      });
    }
  }
}

template <typename T>
void conv2d_backward_filter_gemm(const T* dy, const T* x, T* dw, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const Chunking ch = chunking(g);
  std::fill(dw, dw + g.k * ch.crs, T(0));
  for (std::int64_t n0 = 0; n0 < g.n; n0 += ch.images) {
    const std::int64_t nb = std::min(ch.images, g.n - n0), ld = nb * ch.pq;
    T* col = scratch<T>(0, ch.crs * ld);
    T* dyt = scratch<T>(2, kg * ld);
    for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
      for_each_image(nb, [&](std::int64_t i) {
        im2col(x + ((n0 + i) * g.c + grp * cg) * g.h * g.w, col + i * ch.pq, ld, cg, g);
        gather_dy(dy, dyt, n0 + i, i, grp, ld, g);
      });
      // dW_g[kg, crs] += dY_g[kg, ld] · colᵀ (col is [crs, ld]).
      gemm<T>(false, true, kg, ch.crs, ld, dyt, ld, col, ld, T(1), dw + grp * kg * ch.crs, ch.crs);
    }
  }
}

#define CUDANET_INSTANTIATE_CONV_GEMM(T)                                                         \
  template void conv2d_forward_gemm<T>(const T*, const T*, const T*, T*, const Conv2dGeometry&); \
  template void conv2d_backward_data_gemm<T>(const T*, const T*, T*, const Conv2dGeometry&);     \
  template void conv2d_backward_filter_gemm<T>(const T*, const T*, T*, const Conv2dGeometry&);
CUDANET_INSTANTIATE_CONV_GEMM(float)
CUDANET_INSTANTIATE_CONV_GEMM(double)
#undef CUDANET_INSTANTIATE_CONV_GEMM

}  // namespace cudanet::kernels::cpu
