// The fast CPU convolution: im2col + GEMM per image and group, images spread over threads.
//
// The reference (kernels/cpu/conv2d.cc) is the oracle; this is what training on the CPU runs.
// Per image n and group g, with col the [C/g·R·S, P·Q] patch matrix of x[n, g]:
//   forward          y[n, g]  = W_g · col (+ bias)
//   backward data    dx[n, g] = col2im(W_gᵀ · dy[n, g])
//   backward filter  dW_g     = Σ_n dy[n, g] · colᵀ  (per-thread partial sums added in a fixed
//                               order, so the result does not depend on the thread count)
// The GEMMs are loops whose innermost index walks contiguous memory, which compilers vectorise.
#include <algorithm>
#include <thread>
#include <vector>

#include "kernels/conv2d.h"

namespace cudanet::kernels::cpu {

namespace {

// Runs body(begin, end) over [0, n) split into contiguous chunks on up to hardware threads.
template <typename Body>
void parallel_chunks(std::int64_t n, std::int64_t min_per_thread, Body&& body) {
  const std::int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const std::int64_t threads =
      std::clamp<std::int64_t>(n / std::max<std::int64_t>(min_per_thread, 1), 1, hw);
  if (threads <= 1) {
    body(0, n, 0);
    return;
  }
  std::vector<std::thread> pool;
  const std::int64_t chunk = (n + threads - 1) / threads;
  for (std::int64_t t = 1; t < threads; ++t) {
    const std::int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&body, b, e, t] { body(b, e, t); });
  }
  body(0, std::min(n, chunk), 0);
  for (std::thread& th : pool) th.join();
}

// col[(c·R + r)·S + s][p·Q + q] = x[c][p·sh − ph + r·dh][q·sw − pw + s·dw] (0 outside).
template <typename T>
void im2col(const T* x, T* col, std::int64_t channels, const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        T* out = col + ((c * g.r + r) * g.s + s) * g.p * g.q;
        for (std::int64_t p = 0; p < g.p; ++p) {
          const std::int64_t ih = p * pr.stride_h - pr.pad_h + r * pr.dilation_h;
          for (std::int64_t q = 0; q < g.q; ++q) {
            const std::int64_t iw = q * pr.stride_w - pr.pad_w + s * pr.dilation_w;
            const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
            out[p * g.q + q] = inside ? x[(c * g.h + ih) * g.w + iw] : T(0);
          }
        }
      }
    }
  }
}

// dx[c][ih][iw] += col[...] for every patch element (the adjoint of im2col); dx zeroed first.
template <typename T>
void col2im(const T* col, T* dx, std::int64_t channels, const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  std::fill(dx, dx + channels * g.h * g.w, T(0));
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t r = 0; r < g.r; ++r) {
      for (std::int64_t s = 0; s < g.s; ++s) {
        const T* in = col + ((c * g.r + r) * g.s + s) * g.p * g.q;
        for (std::int64_t p = 0; p < g.p; ++p) {
          const std::int64_t ih = p * pr.stride_h - pr.pad_h + r * pr.dilation_h;
          if (ih < 0 || ih >= g.h) continue;
          for (std::int64_t q = 0; q < g.q; ++q) {
            const std::int64_t iw = q * pr.stride_w - pr.pad_w + s * pr.dilation_w;
            if (iw >= 0 && iw < g.w) dx[(c * g.h + ih) * g.w + iw] += in[p * g.q + q];
          }
        }
      }
    }
  }
}

// C[m][n] (+)= Σ_k A[m][k] · B[k][n]; A is [M, K] with row stride lda, B [K, N], C [M, N].
template <typename T>
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
             const T* b, T* c, bool accumulate) {
  for (std::int64_t i = 0; i < m; ++i) {
    T* crow = c + i * n;
    if (!accumulate) std::fill(crow, crow + n, T(0));
    for (std::int64_t kk = 0; kk < k; ++kk) {
      const T av = a[i * lda + kk];
      const T* brow = b + kk * n;
      for (std::int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
    }
  }
}

// C[m][n] = Σ_k A[k][m] · B[k][n] (A transposed): A is [K, M] with row stride lda.
template <typename T>
void gemm_tn(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
             const T* b, T* c) {
  std::fill(c, c + m * n, T(0));
  for (std::int64_t kk = 0; kk < k; ++kk) {
    const T* brow = b + kk * n;
    for (std::int64_t i = 0; i < m; ++i) {
      const T av = a[kk * lda + i];
      T* crow = c + i * n;
      for (std::int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
    }
  }
}

// C[m][n] += Σ_k A[m][k] · B[n][k] (B transposed), via rows of Bᵀ: B is [N, K].
template <typename T>
void gemm_nt_accumulate(std::int64_t m, std::int64_t n, std::int64_t k, const T* a, const T* b,
                        T* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const T* arow = a + i * k;
      const T* brow = b + j * k;
      T sum = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) sum += arow[kk] * brow[kk];
      c[i * ldc + j] += sum;
    }
  }
}

}  // namespace

template <typename T>
void conv2d_forward_gemm(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const std::int64_t crs = cg * g.r * g.s, pq = g.p * g.q;
  parallel_chunks(g.n, 1, [&](std::int64_t begin, std::int64_t end, std::int64_t) {
    std::vector<T> col(static_cast<std::size_t>(crs * pq));
    for (std::int64_t n = begin; n < end; ++n) {
      for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
        im2col(x + (n * g.c + grp * cg) * g.h * g.w, col.data(), cg, g);
        T* out = y + (n * g.k + grp * kg) * pq;
        gemm_nn(kg, pq, crs, w + grp * kg * crs, crs, col.data(), out, false);
        if (bias != nullptr) {
          for (std::int64_t k = 0; k < kg; ++k) {
            const T b = bias[grp * kg + k];
            for (std::int64_t i = 0; i < pq; ++i) out[k * pq + i] += b;
          }
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward_data_gemm(const T* dy, const T* w, T* dx, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const std::int64_t crs = cg * g.r * g.s, pq = g.p * g.q;
  parallel_chunks(g.n, 1, [&](std::int64_t begin, std::int64_t end, std::int64_t) {
    std::vector<T> col(static_cast<std::size_t>(crs * pq));
    for (std::int64_t n = begin; n < end; ++n) {
      for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
        gemm_tn(crs, pq, kg, w + grp * kg * crs, crs, dy + (n * g.k + grp * kg) * pq, col.data());
        col2im(col.data(), dx + (n * g.c + grp * cg) * g.h * g.w, cg, g);
      }
    }
  });
}

template <typename T>
void conv2d_backward_filter_gemm(const T* dy, const T* x, T* dw, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const std::int64_t crs = cg * g.r * g.s, pq = g.p * g.q;
  const std::int64_t wsize = g.k * crs;
  // Fixed chunking by image count, so the summation order never depends on the machine.
  constexpr std::int64_t kImagesPerChunk = 8;
  const std::int64_t chunks = (g.n + kImagesPerChunk - 1) / kImagesPerChunk;
  std::vector<T> partial(static_cast<std::size_t>(std::max<std::int64_t>(chunks, 1) * wsize), T(0));
  parallel_chunks(chunks, 1, [&](std::int64_t begin, std::int64_t end, std::int64_t) {
    std::vector<T> col(static_cast<std::size_t>(crs * pq));
    for (std::int64_t ch = begin; ch < end; ++ch) {
      T* acc = partial.data() + ch * wsize;
      const std::int64_t n_end = std::min(g.n, (ch + 1) * kImagesPerChunk);
      for (std::int64_t n = ch * kImagesPerChunk; n < n_end; ++n) {
        for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
          im2col(x + (n * g.c + grp * cg) * g.h * g.w, col.data(), cg, g);
          // dW_g[k][crs] += Σ_pq dy[k][pq] · col[crs][pq]
          gemm_nt_accumulate(kg, crs, pq, dy + (n * g.k + grp * kg) * pq, col.data(),
                             acc + grp * kg * crs, crs);
        }
      }
    }
  });
  std::fill(dw, dw + wsize, T(0));
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    const T* acc = partial.data() + ch * wsize;
    for (std::int64_t i = 0; i < wsize; ++i) dw[i] += acc[i];
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
