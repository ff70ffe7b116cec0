// conv2d forward as an implicit GEMM (see kernels/cuda/conv2d_tile.cuh for the main loop).
//
// For group g: Y_g[m, col] = sum_kk W_g[m, kk] * X_g[kk, col] with
//   m   = output channel within the group           (GEMM M = K/groups)
//   col = (n, p, q), the batch folded into the columns  (GEMM N = N*P*Q)
//   kk  = (c, r, s), channel within the group and filter tap (GEMM K = C/groups*R*S).
// W_g is a plain row-major block of w. X_g[kk, col] = x[n, g*C/groups + c, p*stride_h - pad_h +
// r*dilation_h, q*stride_w - pad_w + s*dilation_w] is gathered while the B tile is loaded (zero
// outside the image): the im2col matrix is never written. Grid: x = column tiles, y = row tiles,
// z = groups.
#include <cstdint>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/conv2d_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace cudanet::kernels::cuda {

namespace {

using conv2d_detail::ConvDims;

// A = W_g[m0:, :], a row-major [kg, crs] block.
template <typename Cfg, typename T>
struct FilterRows {
  const T* w;  // row m0 of the group
  int rows;    // rows left in the group from m0
  int cols;    // crs
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kALoads]) const {
    const std::int64_t col = k0 + Cfg::a_col(t);
#pragma unroll
    for (int i = 0; i < Cfg::kALoads; ++i) {
      const int m = Cfg::a_row(t, i);
      v[i] = (m < rows && col < cols) ? w[static_cast<std::int64_t>(m) * cols + col] : T(0);
    }
  }
};

// B = X_g[:, col0:], gathered from x. This thread's column (n, p, q) is fixed.
template <typename Cfg, typename T>
struct ImageColumns {
  const T* x;    // channel 0 of the group in image n (null when the column is past N*P*Q)
  int ih0, iw0;  // input row / column of tap (0, 0)
  ConvDims d;
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Cfg::kBLoads]) const {
#pragma unroll
    for (int i = 0; i < Cfg::kBLoads; ++i) {
      const std::int64_t kk = k0 + Cfg::b_row(t, i);
      T value = T(0);
      if (x != nullptr && kk < d.crs) {
        const int crs = static_cast<int>(kk);
        const int c = d.by_rs.div(crs);
        const int rs = crs - c * d.rs;
        const int r = d.by_s.div(rs);
        const int s = rs - r * d.s;
        const int ih = ih0 + r * d.dilation_h;
        const int iw = iw0 + s * d.dilation_w;
        if (ih >= 0 && ih < d.h && iw >= 0 && iw < d.w) {
          value = x[static_cast<std::int64_t>(c) * d.hw + ih * d.w + iw];
        }
      }
      v[i] = value;
    }
  }
};

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_forward_implicit_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                        const T* __restrict__ bias, T* __restrict__ y, ConvDims d) {
  const int t = static_cast<int>(threadIdx.x);
  const int group = static_cast<int>(blockIdx.z);
  const int m0 = static_cast<int>(blockIdx.y) * Cfg::BM;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.x) * Cfg::BN;
  const std::int64_t columns = static_cast<std::int64_t>(d.n) * d.pq;

  FilterRows<Cfg, T> a{w + (static_cast<std::int64_t>(group) * d.kg + m0) * d.crs, d.kg - m0, d.crs,
                       t};
  ImageColumns<Cfg, T> b{nullptr, 0, 0, d, t};
  {
    const std::int64_t col = col0 + Cfg::b_col(t);
    if (col < columns) {
      const int n = d.by_pq.div(static_cast<int>(col));
      const int pq = static_cast<int>(col) - n * d.pq;
      const int p = d.by_q.div(pq);
      const int q = pq - p * d.q;
      b.x =
          x + (static_cast<std::int64_t>(n) * d.c + static_cast<std::int64_t>(group) * d.cg) * d.hw;
      b.ih0 = p * d.stride_h - d.pad_h;
      b.iw0 = q * d.stride_w - d.pad_w;
    }
  }

  T acc[Cfg::TM][Cfg::TN];
  conv2d_detail::tile_mainloop<Cfg>(a, b, 0, d.crs, acc);

#pragma unroll
  for (int j = 0; j < Cfg::TN; ++j) {
    const std::int64_t col = col0 + Cfg::acc_col(t, j);
    if (col >= columns) continue;
    const int n = d.by_pq.div(static_cast<int>(col));
    const int pq = static_cast<int>(col) - n * d.pq;
    const int channel0 = group * d.kg + m0;  // output channel of tile row 0
    T* out = y + (static_cast<std::int64_t>(n) * d.k + channel0) * d.pq + pq;
#pragma unroll
    for (int i = 0; i < Cfg::TM; ++i) {
      const int m = Cfg::acc_row(t, i);
      if (m0 + m >= d.kg) continue;
      const T b0 = bias != nullptr ? bias[channel0 + m] : T(0);
      out[static_cast<std::int64_t>(m) * d.pq] = acc[i][j] + b0;
    }
  }
}

template <typename T, typename Cfg>
void launch_forward(const void* x, const void* w, const void* bias, void* y, const ConvDims& d,
                    const Stream& stream) {
  const std::int64_t columns = static_cast<std::int64_t>(d.n) * d.pq;
  const dim3 grid(static_cast<unsigned>((columns + Cfg::BN - 1) / Cfg::BN),
                  static_cast<unsigned>((d.kg + Cfg::BM - 1) / Cfg::BM),
                  static_cast<unsigned>(d.groups));
  conv2d_forward_implicit_gemm_kernel<T, Cfg><<<grid, Cfg::kThreads, 0, raw_stream(stream)>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
      static_cast<T*>(y), d);
  CUDANET_LAUNCH_CHECK();
}

}  // namespace

void conv2d_forward_implicit_gemm(const void* x, const void* w, const void* bias, void* y,
                                  const Conv2dGeometry& g, DType dtype, const Stream& stream) {
  const ConvDims d = conv2d_detail::make_dims(g);
  CUDANET_CHECK(d.groups <= 65535 && (d.kg + 63) / 64 <= 65535, ValueError,
                "conv2d_forward: groups ", d.groups, " or channels ", d.k, " exceed the grid");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  switch (dtype) {
    case DType::kFloat32:
      if (conv2d_detail::use_large_tile(d.kg, static_cast<std::int64_t>(d.n) * d.pq, d.groups)) {
        launch_forward<float, conv2d_detail::LargeTile>(x, w, bias, y, d, stream);
      } else {
        launch_forward<float, conv2d_detail::SmallTile>(x, w, bias, y, d, stream);
      }
      return;
    case DType::kFloat64:
      launch_forward<double, conv2d_detail::SmallTile>(x, w, bias, y, d, stream);
      return;
    default:
      CUDANET_THROW(ValueError, "conv2d_forward: dtype ", dtype, " is not float32 or float64");
  }
}

}  // namespace cudanet::kernels::cuda
