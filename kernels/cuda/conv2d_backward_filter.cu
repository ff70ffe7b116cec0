// conv2d backward-filter as an implicit GEMM (main loop in conv2d_tile.cuh).
//
// For group g: dW_g[m, col] = sum_kk dY_g[m, kk] * X_g[kk, col] with
//   m = output channel k within the group, col = (c, r, s) (N = C/groups*R*S),
//   kk = (n, p, q) (K = N*P*Q): the batch is the reduction. That reduction is long and the output
//   small, so it is split: grid z = groups * splits, split z writes its partial product to a
//   workspace slice, and a second kernel adds the slices in a fixed order. The split count
//   depends only on the shape and dtype, so results are bitwise reproducible (no atomics), with
//   or without kernels::deterministic().
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/conv2d_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace cudanet::kernels::cuda {

namespace {

using conv2d_detail::ConvDims;
using conv2d_detail::LargeTile;
using conv2d_detail::SmallTile;
using conv2d_detail::zero_or;

// A = dY_g[k0:, :]: element (k, (n, p, q)) is dy[n, g*kg + k, p, q].
template <typename Cfg, typename T>
struct GradientRows {
  const T* dy;  // dy[0, g*kg + m0, 0, 0]
  int rows;     // output channels left from m0
  ConvDims d;
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kALoads]) const {
    const std::int64_t kk = k0 + Cfg::a_col(t);
    const bool in_k = kk < static_cast<std::int64_t>(d.n) * d.pq;
    const int npq = in_k ? static_cast<int>(kk) : 0;
    const int n = d.by_pq.div(npq);
    const T* base = dy + static_cast<std::int64_t>(n) * d.k * d.pq + (npq - n * d.pq);
#pragma unroll
    for (int i = 0; i < Cfg::kALoads; ++i) {
      const int m = Cfg::a_row(t, i);
      v[i] = zero_or(in_k && m < rows, base + static_cast<std::int64_t>(m) * d.pq);
    }
  }
};

// B = X_g[:, col0:] gathered from x. This thread's column (c, r, s) is fixed.
template <typename Cfg, typename T>
struct ImageRows {
  const T* x;  // x[0, g*cg + c, 0, 0] (null when the column is past crs)
  int dh, dw;  // r*dilation_h - pad_h, s*dilation_w - pad_w
  ConvDims d;
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kBLoads]) const {
#pragma unroll
    for (int i = 0; i < Cfg::kBLoads; ++i) {
      const std::int64_t kk = k0 + Cfg::b_row(t, i);
      T value = T(0);
      if (x != nullptr && kk < static_cast<std::int64_t>(d.n) * d.pq) {
        const int npq = static_cast<int>(kk);
        const int n = d.by_pq.div(npq);
        const int pq = npq - n * d.pq;
        const int p = d.by_q.div(pq);
        const int ih = p * d.stride_h + dh;
        const int iw = (pq - p * d.q) * d.stride_w + dw;
        if (ih >= 0 && ih < d.h && iw >= 0 && iw < d.w) {
          value = x[static_cast<std::int64_t>(n) * d.c * d.hw + ih * d.w + iw];
        }
      }
      v[i] = value;
    }
  }
};

// Grid z = group * splits + split; split z sums kk in [split*chunk, (split+1)*chunk) and writes
// out + split * (k * crs), where out is dw itself when there is one split.
template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_backward_filter_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                  T* __restrict__ out, ConvDims d, int splits, std::int64_t chunk) {
  const int t = static_cast<int>(threadIdx.x);
  const int group = static_cast<int>(blockIdx.z) / splits;
  const int split = static_cast<int>(blockIdx.z) - group * splits;
  const int m0 = static_cast<int>(blockIdx.y) * Cfg::BM;
  const int col0 = static_cast<int>(blockIdx.x) * Cfg::BN;

  GradientRows<Cfg, T> a{dy + (static_cast<std::int64_t>(group) * d.kg + m0) * d.pq, d.kg - m0, d,
                         t};
  ImageRows<Cfg, T> b{nullptr, 0, 0, d, t};
  {
    const int col = col0 + Cfg::b_col(t);
    if (col < d.crs) {
      const int c = d.by_rs.div(col);
      const int rs = col - c * d.rs;
      const int r = d.by_s.div(rs);
      b.x = x + (static_cast<std::int64_t>(group) * d.cg + c) * d.hw;
      b.dh = r * d.dilation_h - d.pad_h;
      b.dw = (rs - r * d.s) * d.dilation_w - d.pad_w;
    }
  }

  T acc[Cfg::TM][Cfg::TN];
  const std::int64_t k_begin = split * chunk;
  const std::int64_t reduction = static_cast<std::int64_t>(d.n) * d.pq;
  const std::int64_t k_end = k_begin + chunk < reduction ? k_begin + chunk : reduction;
  conv2d_detail::tile_mainloop<Cfg>(a, b, k_begin, k_end, acc);

  T* slice = out + static_cast<std::int64_t>(split) * d.k * d.crs +
             (static_cast<std::int64_t>(group) * d.kg + m0) * d.crs;
#pragma unroll
  for (int i = 0; i < Cfg::TM; ++i) {
    const int m = Cfg::acc_row(t, i);
    if (m0 + m >= d.kg) continue;
#pragma unroll
    for (int j = 0; j < Cfg::TN; ++j) {
      const int col = col0 + Cfg::acc_col(t, j);
      if (col < d.crs) slice[static_cast<std::int64_t>(m) * d.crs + col] = acc[i][j];
    }
  }
}

// dw[i] = sum over split of partial[split][i], in split order.
template <typename T>
__global__ void conv2d_backward_filter_reduce_kernel(const T* __restrict__ partial,
                                                     T* __restrict__ dw, std::int64_t size,
                                                     int splits) {
  CUDANET_GRID_STRIDE_LOOP(i, size) {
    T sum = partial[i];
    for (int s = 1; s < splits; ++s) sum += partial[static_cast<std::int64_t>(s) * size + i];
    dw[i] = sum;
  }
}

// How backward-filter splits its reduction; a pure function of the shape and dtype.
struct FilterPlan {
  bool large = false;
  int splits = 1;
  std::int64_t chunk = 0;  // reduction elements per split, a multiple of BK
};

FilterPlan plan_filter(const ConvDims& d, DType dtype) {
  constexpr std::int64_t kTargetBlocks = 512, kMinChunk = 256, kMaxSplits = 256;
  const std::int64_t reduction = static_cast<std::int64_t>(d.n) * d.pq;
  FilterPlan plan;
  // Splitting supplies the blocks, so the large tile only needs a large enough output.
  plan.large = dtype == DType::kFloat32 && d.kg >= 96 && d.crs >= 96;
  const std::int64_t bm = plan.large ? LargeTile::BM : SmallTile::BM;
  const std::int64_t bn = plan.large ? LargeTile::BN : SmallTile::BN;
  const std::int64_t bk = plan.large ? LargeTile::BK : SmallTile::BK;
  const std::int64_t tiles = (d.kg + bm - 1) / bm * ((d.crs + bn - 1) / bn) * d.groups;
  std::int64_t splits = (kTargetBlocks + tiles - 1) / tiles;
  splits = std::min({splits, (reduction + kMinChunk - 1) / kMinChunk, kMaxSplits,
                     std::max<std::int64_t>(1, 65535 / d.groups)});
  splits = std::max<std::int64_t>(splits, 1);
  std::int64_t chunk = (reduction + splits - 1) / splits;
  plan.chunk = (chunk + bk - 1) / bk * bk;
  plan.splits = static_cast<int>((reduction + plan.chunk - 1) / plan.chunk);
  return plan;
}

template <typename T, typename Cfg>
void launch_backward_filter(const void* dy, const void* x, void* dw, void* workspace,
                            const ConvDims& d, const FilterPlan& plan, const Stream& stream) {
  const dim3 grid(static_cast<unsigned>((d.crs + Cfg::BN - 1) / Cfg::BN),
                  static_cast<unsigned>((d.kg + Cfg::BM - 1) / Cfg::BM),
                  static_cast<unsigned>(d.groups * plan.splits));
  T* out = plan.splits > 1 ? static_cast<T*>(workspace) : static_cast<T*>(dw);
  conv2d_backward_filter_kernel<T, Cfg><<<grid, Cfg::kThreads, 0, raw_stream(stream)>>>(
      static_cast<const T*>(dy), static_cast<const T*>(x), out, d, plan.splits, plan.chunk);
  CUDANET_LAUNCH_CHECK();
  if (plan.splits > 1) {
    const std::int64_t size = static_cast<std::int64_t>(d.k) * d.crs;
    conv2d_backward_filter_reduce_kernel<T>
        <<<blocks_for(size), kThreadsPerBlock, 0, raw_stream(stream)>>>(out, static_cast<T*>(dw),
                                                                        size, plan.splits);
    CUDANET_LAUNCH_CHECK();
  }
}

}  // namespace

std::int64_t conv2d_backward_filter_implicit_gemm_workspace(const Conv2dGeometry& g, DType dtype) {
  const ConvDims d = conv2d_detail::make_dims(g);
  const FilterPlan plan = plan_filter(d, dtype);
  return plan.splits > 1 ? plan.splits * g.k * static_cast<std::int64_t>(d.crs) : 0;
}

void conv2d_backward_filter_implicit_gemm(const void* dy, const void* x, void* dw, void* workspace,
                                          const Conv2dGeometry& g, DType dtype,
                                          const Stream& stream) {
  const ConvDims d = conv2d_detail::make_dims(g);
  const FilterPlan plan = plan_filter(d, dtype);
  CUDANET_CHECK(plan.splits == 1 || workspace != nullptr, ValueError,
                "conv2d_backward_filter: a workspace of ",
                conv2d_backward_filter_implicit_gemm_workspace(g, dtype), " elements is needed");
  CUDANET_CHECK(d.groups <= 65535 && (d.kg + 63) / 64 <= 65535, ValueError,
                "conv2d_backward_filter: groups ", d.groups, " or channels ", d.k,
                " exceed the grid");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  switch (dtype) {
    case DType::kFloat32:
      if (plan.large) {
        launch_backward_filter<float, LargeTile>(dy, x, dw, workspace, d, plan, stream);
      } else {
        launch_backward_filter<float, SmallTile>(dy, x, dw, workspace, d, plan, stream);
      }
      return;
    case DType::kFloat64:
      launch_backward_filter<double, SmallTile>(dy, x, dw, workspace, d, plan, stream);
      return;
    default:
      CUDANET_THROW(ValueError, "conv2d_backward_filter: dtype ", dtype,
                    " is not float32 or float64");
  }
}

}  // namespace cudanet::kernels::cuda
