// conv2d backward-data as an implicit GEMM (main loop in conv2d_tile.cuh), and the bias gradient.
//
// Backward-data, for group g: dX_g[m, col] = sum_kk Wt_g[m, kk] * dY_g[kk, col] with
//   m = input channel c within the group (M = C/groups), col = (n, h, w) (N = N*H*W),
//   kk = (k, r, s) (K = K/groups*R*S), Wt_g[c, (k, r, s)] = w[g*K/groups + k, c, r, s] and
//   dY_g[(k, r, s), (n, h, w)] = dy[n, g*K/groups + k, p, q] where h + pad_h - r*dilation_h =
//   p*stride_h and w + pad_w - s*dilation_w = q*stride_w for some 0 <= p < P, 0 <= q < Q, else 0.
// Every dx element is written once (a gather), so no atomics and no zeroing are needed. With
// stride > 1 most taps miss (the divisibility test fails) and load zeros: correct, not frugal.
#include <cstdint>

#include <cub/block/block_reduce.cuh>

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

// ---------------------------------------------------------------- backward-data

// A = Wt_g[c0:, :]: element (c, (k, r, s)) is w[(g*kg + k)*crs + c*rs + rs].
template <typename Cfg, typename T>
struct FilterTransposed {
  const T* w;  // w + (g*kg*cg + c0) * rs
  int rows;    // channels left from c0
  ConvDims d;
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kALoads]) const {
    const std::int64_t kk = k0 + Cfg::a_col(t);
    const bool in_k = kk < d.krs;
    const int krs = in_k ? static_cast<int>(kk) : 0;
    const int k = d.by_rs.div(krs);
    const T* base = w + static_cast<std::int64_t>(k) * d.crs + (krs - k * d.rs);
#pragma unroll
    for (int i = 0; i < Cfg::kALoads; ++i) {
      const int m = Cfg::a_row(t, i);
      v[i] = zero_or(in_k && m < rows, base + static_cast<std::int64_t>(m) * d.rs);
    }
  }
};

// B = dY_g[:, col0:], gathered from dy. This thread's column (n, h, w) is fixed.
template <typename Cfg, typename T>
struct GradientColumns {
  const T* dy;  // dy[n, g*kg, 0, 0] (null when the column is past N*H*W)
  int th, tw;   // h + pad_h, w + pad_w
  ConvDims d;
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kBLoads]) const {
#pragma unroll
    for (int i = 0; i < Cfg::kBLoads; ++i) {
      const std::int64_t kk = k0 + Cfg::b_row(t, i);
      T value = T(0);
      if (dy != nullptr && kk < d.krs) {
        const int krs = static_cast<int>(kk);
        const int k = d.by_rs.div(krs);
        const int rs = krs - k * d.rs;
        const int r = d.by_s.div(rs);
        const int s = rs - r * d.s;
        const int ph = th - r * d.dilation_h;  // p * stride_h when this tap reaches (h, w)
        const int pw = tw - s * d.dilation_w;
        if (ph >= 0 && pw >= 0) {
          const int p = d.by_stride_h.div(ph), q = d.by_stride_w.div(pw);
          if (p * d.stride_h == ph && q * d.stride_w == pw && p < d.p && q < d.q) {
            value = dy[static_cast<std::int64_t>(k) * d.pq + p * d.q + q];
          }
        }
      }
      v[i] = value;
    }
  }
};

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_backward_data_kernel(const T* __restrict__ dy, const T* __restrict__ w,
                                T* __restrict__ dx, ConvDims d) {
  const int t = static_cast<int>(threadIdx.x);
  const int group = static_cast<int>(blockIdx.z);
  const int m0 = static_cast<int>(blockIdx.y) * Cfg::BM;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.x) * Cfg::BN;
  const std::int64_t columns = static_cast<std::int64_t>(d.n) * d.hw;

  FilterTransposed<Cfg, T> a{w + (static_cast<std::int64_t>(group) * d.kg * d.cg + m0) * d.rs,
                             d.cg - m0, d, t};
  GradientColumns<Cfg, T> b{nullptr, 0, 0, d, t};
  {
    const std::int64_t col = col0 + Cfg::b_col(t);
    if (col < columns) {
      const int n = d.by_hw.div(static_cast<int>(col));
      const int hw = static_cast<int>(col) - n * d.hw;
      const int h = d.by_w.div(hw);
      b.dy = dy +
             (static_cast<std::int64_t>(n) * d.k + static_cast<std::int64_t>(group) * d.kg) * d.pq;
      b.th = h + d.pad_h;
      b.tw = hw - h * d.w + d.pad_w;
    }
  }

  T acc[Cfg::TM][Cfg::TN];
  conv2d_detail::tile_mainloop<Cfg>(a, b, 0, d.krs, acc);

#pragma unroll
  for (int j = 0; j < Cfg::TN; ++j) {
    const std::int64_t col = col0 + Cfg::acc_col(t, j);
    if (col >= columns) continue;
    const int n = d.by_hw.div(static_cast<int>(col));
    const int hw = static_cast<int>(col) - n * d.hw;
    T* out = dx + (static_cast<std::int64_t>(n) * d.c + group * d.cg + m0) * d.hw + hw;
#pragma unroll
    for (int i = 0; i < Cfg::TM; ++i) {
      const int m = Cfg::acc_row(t, i);
      if (m0 + m < d.cg) out[static_cast<std::int64_t>(m) * d.hw] = acc[i][j];
    }
  }
}

template <typename T, typename Cfg>
void launch_backward_data(const void* dy, const void* w, void* dx, const ConvDims& d,
                          const Stream& stream) {
  const std::int64_t columns = static_cast<std::int64_t>(d.n) * d.hw;
  const dim3 grid(static_cast<unsigned>((columns + Cfg::BN - 1) / Cfg::BN),
                  static_cast<unsigned>((d.cg + Cfg::BM - 1) / Cfg::BM),
                  static_cast<unsigned>(d.groups));
  conv2d_backward_data_kernel<T, Cfg><<<grid, Cfg::kThreads, 0, raw_stream(stream)>>>(
      static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx), d);
  CUDANET_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- bias

// db[k] = sum over n, j of dy[n, k, j]: one block per channel; each thread sums a fixed, strided
// subset in double, then a CUB block reduction (a fixed tree) adds the threads' sums.
template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    conv2d_backward_bias_kernel(const T* __restrict__ dy, T* __restrict__ db, std::int64_t n,
                                std::int64_t k, std::int64_t hw) {
  using Reduce = cub::BlockReduce<double, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage temp;
  const std::int64_t channel = blockIdx.x;
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* plane = dy + (i * k + channel) * hw;
    for (std::int64_t j = threadIdx.x; j < hw; j += kThreadsPerBlock) {
      sum += static_cast<double>(plane[j]);
    }
  }
  const double total = Reduce(temp).Sum(sum);
  if (threadIdx.x == 0) db[channel] = static_cast<T>(total);
}

}  // namespace

void conv2d_backward_bias(const void* dy, void* db, std::int64_t n, std::int64_t k, std::int64_t hw,
                          DType dtype, const Stream& stream) {
  CUDANET_CHECK(k <= 0x7fffffff, ValueError, "conv2d_backward_bias: ", k,
                " channels exceed the grid");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned grid = static_cast<unsigned>(k);
  switch (dtype) {
    case DType::kFloat32:
      conv2d_backward_bias_kernel<float><<<grid, kThreadsPerBlock, 0, raw_stream(stream)>>>(
          static_cast<const float*>(dy), static_cast<float*>(db), n, k, hw);
      break;
    case DType::kFloat64:
      conv2d_backward_bias_kernel<double><<<grid, kThreadsPerBlock, 0, raw_stream(stream)>>>(
          static_cast<const double*>(dy), static_cast<double*>(db), n, k, hw);
      break;
    default:
      CUDANET_THROW(ValueError, "conv2d_backward_bias: dtype ", dtype,
                    " is not float32 or float64");
  }
  CUDANET_LAUNCH_CHECK();
}

void conv2d_backward_data_implicit_gemm(const void* dy, const void* w, void* dx,
                                        const Conv2dGeometry& g, DType dtype,
                                        const Stream& stream) {
  const ConvDims d = conv2d_detail::make_dims(g);
  CUDANET_CHECK(d.groups <= 65535 && (d.cg + 63) / 64 <= 65535, ValueError,
                "conv2d_backward_data: groups ", d.groups, " or channels ", d.c,
                " exceed the grid");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  switch (dtype) {
    case DType::kFloat32:
      if (conv2d_detail::use_large_tile(d.cg, static_cast<std::int64_t>(d.n) * d.hw, d.groups)) {
        launch_backward_data<float, LargeTile>(dy, w, dx, d, stream);
      } else {
        launch_backward_data<float, SmallTile>(dy, w, dx, d, stream);
      }
      return;
    case DType::kFloat64:
      launch_backward_data<double, SmallTile>(dy, w, dx, d, stream);
      return;
    default:
      CUDANET_THROW(ValueError, "conv2d_backward_data: dtype ", dtype,
                    " is not float32 or float64");
  }
}

}  // namespace cudanet::kernels::cuda
