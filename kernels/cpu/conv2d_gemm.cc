// The fast CPU convolution: im2col + BLAS GEMM over blocks of images, one block per task.
//
// The reference (kernels/cpu/conv2d.cc) is the oracle; this is what training on the CPU runs.
// The batch is cut into blocks of B images. B depends on the shape alone: small enough that a
// block's patch matrix col ([C/g·R·S, B·L], L columns per image, see kernels/cpu/conv2d_im2col.h)
// stays in the L2 cache, and small enough that there are blocks for every core. Each block runs
// on one core, start to finish: im2col, one single-threaded BLAS call per group, then the scatter
// or col2im, while its buffers are still in cache. With Y_g and dY_g the block's [K/g, B·L]
// output and output gradient of group g:
//   forward          Y_g  = W_g · col              (then scattered to y[n, g·K/g + k] + bias)
//   backward data    col  = W_gᵀ · dY_g            (then col2im into dx)
//   backward filter  dW_g = Σ_blocks dY_g · colᵀ    (into a fixed number of partial sums, added
//                                                   in a fixed order)
// Since the blocks and partial sums depend on the shape only, never on the core count, the
// results are the same on every machine. A convolution whose kernel covers its whole unpadded
// input (LeNet-5's C5: a 1×1 output) is a matrix product of the flattened images and runs as one
// parallel GEMM without im2col.
#include <algorithm>
#include <memory>

#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_im2col.h"
#include "kernels/gemm.h"

namespace cudanet::kernels::cpu {

namespace {

using namespace conv_detail;  // NOLINT: the helpers of this file's own header

// Row-major C[m×n] = op(A)·op(B) + beta·C with leading dimensions; `serial` runs it on the
// calling thread (inside a block task), otherwise it is spread over the cores.
template <typename T>
void gemm(bool serial, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
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
  if (serial) {
    gemm_blas_serial<T>(p, T(1), a, b, beta, c);
  } else {
    gemm_blas<T>(p, T(1), a, b, beta, c);
  }
}

constexpr std::int64_t kBlockColBytes = 256 * 1024;  // col of one block: well inside L2
constexpr std::int64_t kMinBlocks = 8;               // blocks to spread over the cores
constexpr std::int64_t kMaxPartials = 16;            // partial filter-gradient sums, at most
constexpr std::int64_t kMaxPartialBytes = std::int64_t{64} << 20;  // ... and this much memory

struct Blocking {
  ColLayout layout;
  std::int64_t images;  // per block (the last block may hold fewer)
  std::int64_t blocks;
  std::int64_t crs;
};

template <typename T>
Blocking blocking(const Conv2dGeometry& g) {
  const ColLayout l = col_layout(g);
  const std::int64_t crs = g.c_per_group() * g.r * g.s;
  const std::int64_t per_image =
      std::max<std::int64_t>(crs * l.per_image * static_cast<std::int64_t>(sizeof(T)), 1);
  const std::int64_t by_cache = std::max<std::int64_t>(kBlockColBytes / per_image, 1);
  const std::int64_t by_spread = (g.n + kMinBlocks - 1) / kMinBlocks;
  const std::int64_t images =
      std::clamp<std::int64_t>(std::min(by_cache, by_spread), 1, std::max<std::int64_t>(g.n, 1));
  return {l, images, (g.n + images - 1) / images, crs};
}

// One block: images [n0, n0 + count); ld = count·L columns.
struct Block {
  std::int64_t n0, count, ld;
};

Block block_of(const Blocking& b, std::int64_t n, std::int64_t index) {
  const std::int64_t n0 = index * b.images, count = std::min(b.images, n - n0);
  return {n0, count, count * b.layout.per_image};
}

// body(task) for task in [0, tasks), spread over the cores.
template <typename Body>
void for_each_task(std::int64_t tasks, Body&& body) {
  parallel_for(tasks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) body(t);
  });
}

// dY_g of a block as a [kg, ld] matrix in the block's column layout, junk columns zero. In the
// exact layout one image's rows are already contiguous in dy (returned in place, leading
// dimension P·Q); otherwise the planes are copied into a scratch buffer.
template <typename T>
const T* block_dy(const T* dy, const Block& blk, std::int64_t grp, const Blocking& b,
                  const Conv2dGeometry& g, std::int64_t* ld_out) {
  const std::int64_t kg = g.k_per_group(), pq = g.p * g.q;
  const ColLayout& l = b.layout;
  if (blk.count == 1 && !l.wide) {
    *ld_out = pq;
    return dy + (blk.n0 * g.k + grp * kg) * pq;
  }
  T* dyt = scratch<T>(kOutSlot, kg * blk.ld);
  if (l.wide) std::fill(dyt, dyt + kg * blk.ld, T(0));
  for (std::int64_t i = 0; i < blk.count; ++i) {
    for (std::int64_t k = 0; k < kg; ++k) {
      const T* src = dy + ((blk.n0 + i) * g.k + grp * kg + k) * pq;
      T* dst = dyt + k * blk.ld + i * l.per_image;
      for (std::int64_t p = 0; p < g.p; ++p) copy_short(src + p * g.q, g.q, dst + p * l.pitch);
    }
  }
  *ld_out = blk.ld;
  return dyt;
}

// im2col of the block's images for group grp into col ([crs, ld]).
template <typename T>
void block_im2col(const T* x, T* col, const Block& blk, std::int64_t grp, const Blocking& b,
                  const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group();
  for (std::int64_t i = 0; i < blk.count; ++i) {
    const T* xi = x + ((blk.n0 + i) * g.c + grp * cg) * g.h * g.w;
    im2col(pad_image(xi, cg, b.layout, g), b.layout, col + i * b.layout.per_image, blk.ld, cg, g);
  }
}

// Whether every output is one dot product of a whole image with a whole filter (1×1 output, the
// kernel covering the unpadded input, one group): the convolution is then a matrix product.
bool is_matrix_product(const Conv2dGeometry& g) {
  const Conv2dParams& pr = g.params;
  return g.p == 1 && g.q == 1 && g.r == g.h && g.s == g.w && pr.pad_h == 0 && pr.pad_w == 0 &&
         g.groups() == 1;
}

}  // namespace

template <typename T>
void conv2d_forward_gemm(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g) {
  const std::int64_t kg = g.k_per_group(), pq = g.p * g.q;
  if (is_matrix_product(g)) {  // y[n, k] = Σ_j x[n, j] · w[k, j] + bias[k]
    const std::int64_t crs = g.c * g.r * g.s;
    gemm<T>(false, false, true, g.n, g.k, crs, x, crs, w, crs, T(0), y, g.k);
    if (bias != nullptr) {
      for (std::int64_t i = 0; i < g.n; ++i) {
        for (std::int64_t k = 0; k < g.k; ++k) y[i * g.k + k] += bias[k];
      }
    }
    return;
  }
  const Blocking b = blocking<T>(g);
  const ColLayout& l = b.layout;
  for_each_task(b.blocks, [&](std::int64_t index) {
    const Block blk = block_of(b, g.n, index);
    T* col = scratch<T>(kColSlot, b.crs * blk.ld);
    for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
      block_im2col(x, col, blk, grp, b, g);
      // One image in the exact layout: the GEMM writes straight into y (its planes are
      // contiguous), and the scatter below only adds the bias in place.
      const bool direct = blk.count == 1 && !l.wide;
      T* out = direct ? y + (blk.n0 * g.k + grp * kg) * pq : scratch<T>(kOutSlot, kg * blk.ld);
      gemm<T>(true, false, false, kg, blk.ld, b.crs, w + grp * kg * b.crs, b.crs, col, blk.ld, T(0),
              out, blk.ld);
      for (std::int64_t i = 0; i < blk.count; ++i) {
        for (std::int64_t k = 0; k < kg; ++k) {
          const T bk = bias != nullptr ? bias[grp * kg + k] : T(0);
          const T* src = out + k * blk.ld + i * l.per_image;
          T* dst = y + ((blk.n0 + i) * g.k + grp * kg + k) * pq;
          for (std::int64_t p = 0; p < g.p; ++p) {
            for (std::int64_t q = 0; q < g.q; ++q) dst[p * g.q + q] = src[p * l.pitch + q] + bk;
          }
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward_data_gemm(const T* dy, const T* w, T* dx, const Conv2dGeometry& g) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  if (is_matrix_product(g)) {  // dx[n, j] = Σ_k dy[n, k] · w[k, j]
    const std::int64_t crs = g.c * g.r * g.s;
    gemm<T>(false, false, false, g.n, crs, g.k, dy, g.k, w, crs, T(0), dx, crs);
    return;
  }
  const Blocking b = blocking<T>(g);
  for_each_task(b.blocks, [&](std::int64_t index) {
    const Block blk = block_of(b, g.n, index);
    T* col = scratch<T>(kColSlot, b.crs * blk.ld);
    for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
      std::int64_t ldy = 0;
      const T* dyg = block_dy(dy, blk, grp, b, g, &ldy);
      gemm<T>(true, true, false, b.crs, blk.ld, kg, w + grp * kg * b.crs, b.crs, dyg, ldy, T(0),
              col, blk.ld);
      for (std::int64_t i = 0; i < blk.count; ++i) {
        col2im(col + i * b.layout.per_image, blk.ld,
               dx + ((blk.n0 + i) * g.c + grp * cg) * g.h * g.w, cg, b.layout, g);
      }
    }
  });
}

template <typename T>
void conv2d_backward_filter_gemm(const T* dy, const T* x, T* dw, const Conv2dGeometry& g) {
  const std::int64_t kg = g.k_per_group();
  if (is_matrix_product(g)) {  // dw[k, j] = Σ_n dy[n, k] · x[n, j]
    const std::int64_t crs = g.c * g.r * g.s;
    gemm<T>(false, true, false, g.k, crs, g.n, dy, g.k, x, crs, T(0), dw, crs);
    return;
  }
  const Blocking b = blocking<T>(g);
  const std::int64_t w_size = g.k * b.crs;
  if (g.n == 0) {
    std::fill(dw, dw + w_size, T(0));
    return;
  }
  // Partial sum t takes blocks t, t + partials, ... in order; partial 0 is dw itself.
  const std::int64_t by_memory =
      std::max<std::int64_t>(kMaxPartialBytes / (w_size * static_cast<std::int64_t>(sizeof(T))), 1);
  const std::int64_t partials = std::min({b.blocks, kMaxPartials, by_memory});
  // Not zeroed: each partial's first GEMM runs with beta = 0.
  const std::unique_ptr<T[]> extra(new T[static_cast<std::size_t>((partials - 1) * w_size)]);
  for_each_task(partials, [&](std::int64_t t) {
    T* sum = t == 0 ? dw : extra.get() + (t - 1) * w_size;
    for (std::int64_t index = t; index < b.blocks; index += partials) {
      const Block blk = block_of(b, g.n, index);
      T* col = scratch<T>(kColSlot, b.crs * blk.ld);
      for (std::int64_t grp = 0; grp < g.groups(); ++grp) {
        block_im2col(x, col, blk, grp, b, g);
        std::int64_t ldy = 0;
        const T* dyg = block_dy(dy, blk, grp, b, g, &ldy);
        // dW_g[kg, crs] (+)= dY_g[kg, ld] · colᵀ (col is [crs, ld]).
        gemm<T>(true, false, true, kg, b.crs, blk.ld, dyg, ldy, col, blk.ld,
                index == t ? T(0) : T(1), sum + grp * kg * b.crs, b.crs);
      }
    }
  });
  for (std::int64_t t = 1; t < partials; ++t) {
    const T* part = extra.get() + (t - 1) * w_size;
    for (std::int64_t j = 0; j < w_size; ++j) dw[j] += part[j];
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
