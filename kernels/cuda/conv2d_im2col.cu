// conv2d by im2col + GEMM: the simple second algorithm (the main loop is conv2d_tile.cuh's).
//
// The workspace holds the im2col matrix of a chunk of nb images: col[(c, r, s), (n, p, q)] =
// x[n0 + n, c, p*stride_h - pad_h + r*dilation_h, q*stride_w - pad_w + s*dilation_w] (zero
// outside), C*R*S rows by nb*P*Q columns; the rows of group g are a contiguous block. Then for
// each chunk, with one launch over all groups (grid z):
//   forward          y_g  = W_g * col_g                    (+ bias)
//   backward-data    dcol = W_g^T * dy_g, then col2im gathers dcol into dx (no atomics)
//   backward-filter  dw_g += dy_g * col_g^T                (chunks accumulate in order)
// The chunk is as many images as fit kMaxColElements, so the workspace stays bounded; the host
// loop runs over chunks, not over images.
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/conv2d_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace cudanet::kernels::cuda {

namespace {

using conv2d_detail::ConvDims;
using Tile = conv2d_detail::SmallTile;

constexpr std::int64_t kMaxColElements = std::int64_t{1} << 25;

// Offset of index i along one GEMM dimension: i * stride, or, for a dimension that runs over
// (image, pixel) pairs, (i / inner) * outer + (i % inner) * stride.
struct Dim {
  std::int64_t stride = 1;
  std::int64_t inner = 0;  // 0: not split
  std::int64_t outer = 0;
  __device__ std::int64_t offset(std::int64_t i) const {
    if (inner == 0) return i * stride;
    const std::int64_t o = i / inner;
    return o * outer + (i - o * inner) * stride;
  }
};

struct Operand {
  std::int64_t group_stride = 0;
  Dim rows, cols;
};

// C[g][m, n] (+)= sum_k A[g][m, k] * B[g][k, n] (+ bias[g*M + m]).
struct GemmShape {
  std::int64_t m, n, k;
  Operand a, b, c;
  bool accumulate;
};

template <typename T>
struct StridedA {
  const T* a;  // group g's block
  Dim k_dim;
  std::int64_t k_size;
  std::int64_t row_off[Tile::kALoads];  // -1: past M
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Tile::kALoads]) const {
    const std::int64_t k = k0 + Tile::a_col(t);
    const std::int64_t k_off = k < k_size ? k_dim.offset(k) : -1;
#pragma unroll
    for (int i = 0; i < Tile::kALoads; ++i) {
      v[i] = (k_off >= 0 && row_off[i] >= 0) ? a[row_off[i] + k_off] : T(0);
    }
  }
};

template <typename T>
struct StridedB {
  const T* b;
  Dim k_dim;
  std::int64_t k_size;
  std::int64_t col_off;  // -1: past N
  int t;

  __device__ void load(std::int64_t k0, T (&v)[Tile::kBLoads]) const {
#pragma unroll
    for (int i = 0; i < Tile::kBLoads; ++i) {
      const std::int64_t k = k0 + Tile::b_row(t, i);
      v[i] = (col_off >= 0 && k < k_size) ? b[k_dim.offset(k) + col_off] : T(0);
    }
  }
};

// Grid: x = column tiles, y = row tiles, z = groups.
template <typename T>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocksPerSm)
    conv2d_im2col_gemm_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                              const T* __restrict__ bias, GemmShape s) {
  const int t = static_cast<int>(threadIdx.x);
  const std::int64_t group = blockIdx.z;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.y) * Tile::BM;
  const std::int64_t n0 = static_cast<std::int64_t>(blockIdx.x) * Tile::BN;

  StridedA<T> la{a + group * s.a.group_stride, s.a.cols, s.k, {}, t};
#pragma unroll
  for (int i = 0; i < Tile::kALoads; ++i) {
    const std::int64_t m = m0 + Tile::a_row(t, i);
    la.row_off[i] = m < s.m ? s.a.rows.offset(m) : -1;
  }
  const std::int64_t n = n0 + Tile::b_col(t);
  StridedB<T> lb{b + group * s.b.group_stride, s.b.rows, s.k, n < s.n ? s.b.cols.offset(n) : -1, t};

  T acc[Tile::TM][Tile::TN];
  conv2d_detail::tile_mainloop<Tile>(la, lb, 0, s.k, acc);

  T* cg = c + group * s.c.group_stride;
#pragma unroll
  for (int j = 0; j < Tile::TN; ++j) {
    const std::int64_t col = n0 + Tile::acc_col(t, j);
    if (col >= s.n) continue;
    const std::int64_t col_off = s.c.cols.offset(col);
#pragma unroll
    for (int i = 0; i < Tile::TM; ++i) {
      const std::int64_t row = m0 + Tile::acc_row(t, i);
      if (row >= s.m) continue;
      T value = acc[i][j];
      if (bias != nullptr) value += bias[group * s.m + row];
      T* out = cg + s.c.rows.offset(row) + col_off;
      *out = s.accumulate ? *out + value : value;
    }
  }
}

// col[(c, r, s), (n, p, q)] for images n0 .. n0+nb-1 (one thread per element).
template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, ConvDims d,
                              std::int64_t n0, std::int64_t nb) {
  const std::int64_t columns = nb * d.pq;
  const std::int64_t size = static_cast<std::int64_t>(d.c) * d.rs * columns;
  CUDANET_GRID_STRIDE_LOOP(e, size) {
    const std::int64_t row = e / columns;  // (c, r, s)
    const std::int64_t column = e - row * columns;
    const int c = static_cast<int>(row / d.rs);
    const int rs = static_cast<int>(row - static_cast<std::int64_t>(c) * d.rs);
    const int r = rs / d.s, s = rs - r * d.s;
    const std::int64_t n = column / d.pq;
    const int pq = static_cast<int>(column - n * d.pq);
    const int p = pq / d.q, q = pq - p * d.q;
    const int ih = p * d.stride_h - d.pad_h + r * d.dilation_h;
    const int iw = q * d.stride_w - d.pad_w + s * d.dilation_w;
    const bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
    col[e] = inside ? x[((n0 + n) * d.c + c) * d.hw + ih * d.w + iw] : T(0);
  }
}

// dx[n0 + n, c, h, w] = sum of the col entries that im2col read from there (a gather).
template <typename T>
__global__ void col2im_kernel(const T* __restrict__ col, T* __restrict__ dx, ConvDims d,
                              std::int64_t n0, std::int64_t nb) {
  const std::int64_t columns = nb * d.pq;
  const std::int64_t size = nb * d.c * d.hw;
  CUDANET_GRID_STRIDE_LOOP(e, size) {
    const std::int64_t nc = e / d.hw;  // n * C + c
    const int hw = static_cast<int>(e - nc * d.hw);
    const std::int64_t n = nc / d.c;
    const int c = static_cast<int>(nc - n * d.c);
    const int h = hw / d.w, w = hw - h * d.w;
    T sum = T(0);
    for (int r = 0; r < d.r; ++r) {
      const int ph = h + d.pad_h - r * d.dilation_h;
      if (ph < 0 || ph % d.stride_h != 0 || ph / d.stride_h >= d.p) continue;
      for (int s = 0; s < d.s; ++s) {
        const int pw = w + d.pad_w - s * d.dilation_w;
        if (pw < 0 || pw % d.stride_w != 0 || pw / d.stride_w >= d.q) continue;
        const std::int64_t row = (static_cast<std::int64_t>(c) * d.r + r) * d.s + s;
        sum += col[row * columns + n * d.pq + (ph / d.stride_h) * d.q + pw / d.stride_w];
      }
    }
    dx[(n0 * d.c + nc) * d.hw + hw] = sum;
  }
}

std::int64_t chunk_images(const ConvDims& d) {
  const std::int64_t per_image = static_cast<std::int64_t>(d.c) * d.rs * d.pq;
  return std::clamp<std::int64_t>(kMaxColElements / per_image, 1, d.n);
}

template <typename T>
void launch_gemm(const void* a, const void* b, void* c, const void* bias, const GemmShape& s,
                 int groups, const Stream& stream) {
  const dim3 grid(static_cast<unsigned>((s.n + Tile::BN - 1) / Tile::BN),
                  static_cast<unsigned>((s.m + Tile::BM - 1) / Tile::BM),
                  static_cast<unsigned>(groups));
  conv2d_im2col_gemm_kernel<T><<<grid, Tile::kThreads, 0, raw_stream(stream)>>>(
      static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(c),
      static_cast<const T*>(bias), s);
  CUDANET_LAUNCH_CHECK();
}

template <typename T>
void launch_im2col(const void* x, T* col, const ConvDims& d, std::int64_t n0, std::int64_t nb,
                   const Stream& stream) {
  const std::int64_t size = static_cast<std::int64_t>(d.c) * d.rs * nb * d.pq;
  im2col_kernel<T><<<blocks_for(size), kThreadsPerBlock, 0, raw_stream(stream)>>>(
      static_cast<const T*>(x), col, d, n0, nb);
  CUDANET_LAUNCH_CHECK();
}

// Operand layouts of the three GEMMs for a chunk of nb images (see the file comment).
Operand weights(const ConvDims& d, bool transposed) {
  Operand o;
  o.group_stride = static_cast<std::int64_t>(d.kg) * d.crs;
  o.rows.stride = transposed ? 1 : d.crs;  // rows: k (or (c, r, s) when transposed)
  o.cols.stride = transposed ? d.crs : 1;
  return o;
}
Operand columns(const ConvDims& d, std::int64_t nb, bool transposed) {
  Operand o;
  o.group_stride = static_cast<std::int64_t>(d.crs) * nb * d.pq;
  o.rows.stride = transposed ? 1 : nb * d.pq;
  o.cols.stride = transposed ? nb * d.pq : 1;
  return o;
}
// y / dy of the chunk as [k, (n, p, q)] (or its transpose): the columns skip the other channels.
Operand outputs(const ConvDims& d, bool transposed) {
  Operand o;
  o.group_stride = static_cast<std::int64_t>(d.kg) * d.pq;
  Dim channel{d.pq, 0, 0};
  Dim pixel{1, d.pq, static_cast<std::int64_t>(d.k) * d.pq};
  o.rows = transposed ? pixel : channel;
  o.cols = transposed ? channel : pixel;
  return o;
}

template <typename T>
void forward(const void* x, const void* w, const void* bias, void* y, T* col, const ConvDims& d,
             const Stream& stream) {
  const std::int64_t chunk = chunk_images(d);
  for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, d.n - n0);
    launch_im2col<T>(x, col, d, n0, nb, stream);
    const GemmShape s{
        d.kg, nb * d.pq, d.crs, weights(d, false), columns(d, nb, false), outputs(d, false), false};
    launch_gemm<T>(w, col, static_cast<T*>(y) + n0 * d.k * d.pq, bias, s, d.groups, stream);
  }
}

template <typename T>
void backward_data(const void* dy, const void* w, void* dx, T* col, const ConvDims& d,
                   const Stream& stream) {
  const std::int64_t chunk = chunk_images(d);
  for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, d.n - n0);
    const GemmShape s{
        d.crs, nb * d.pq, d.kg, weights(d, true), outputs(d, false), columns(d, nb, false), false};
    launch_gemm<T>(w, static_cast<const T*>(dy) + n0 * d.k * d.pq, col, nullptr, s, d.groups,
                   stream);
    const std::int64_t size = nb * d.c * d.hw;
    col2im_kernel<T><<<blocks_for(size), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        col, static_cast<T*>(dx), d, n0, nb);
    CUDANET_LAUNCH_CHECK();
  }
}

template <typename T>
void backward_filter(const void* dy, const void* x, void* dw, T* col, const ConvDims& d,
                     const Stream& stream) {
  const std::int64_t chunk = chunk_images(d);
  for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, d.n - n0);
    launch_im2col<T>(x, col, d, n0, nb, stream);
    const GemmShape s{
        d.kg, d.crs, nb * d.pq, outputs(d, false), columns(d, nb, true), weights(d, false), n0 > 0};
    launch_gemm<T>(static_cast<const T*>(dy) + n0 * d.k * d.pq, col, dw, nullptr, s, d.groups,
                   stream);
  }
}

template <typename F>
void dispatch(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      f(float{});
      return;
    case DType::kFloat64:
      f(double{});
      return;
    default:
      CUDANET_THROW(ValueError, op, ": dtype ", dtype, " is not float32 or float64");
  }
}

ConvDims checked_dims(const Conv2dGeometry& g, const void* workspace, const char* op) {
  const ConvDims d = conv2d_detail::make_dims(g);
  CUDANET_CHECK(workspace != nullptr, ValueError, op, ": im2col needs a workspace of ",
                conv2d_im2col_workspace(g), " elements");
  CUDANET_CHECK(d.groups <= 65535 && (std::max(d.kg, d.crs) + Tile::BM - 1) / Tile::BM <= 65535,
                ValueError, op, ": groups ", d.groups, " or channels exceed the grid");
  return d;
}

}  // namespace

std::int64_t conv2d_im2col_workspace(const Conv2dGeometry& g) {
  const ConvDims d = conv2d_detail::make_dims(g);
  return chunk_images(d) * d.c * d.rs * d.pq;
}

void conv2d_forward_im2col(const void* x, const void* w, const void* bias, void* y, void* workspace,
                           const Conv2dGeometry& g, DType dtype, const Stream& stream) {
  const ConvDims d = checked_dims(g, workspace, "conv2d_forward");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(dtype, "conv2d_forward", [&](auto tag) {
    using T = decltype(tag);
    forward<T>(x, w, bias, y, static_cast<T*>(workspace), d, stream);
  });
}

void conv2d_backward_data_im2col(const void* dy, const void* w, void* dx, void* workspace,
                                 const Conv2dGeometry& g, DType dtype, const Stream& stream) {
  const ConvDims d = checked_dims(g, workspace, "conv2d_backward_data");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(dtype, "conv2d_backward_data", [&](auto tag) {
    using T = decltype(tag);
    backward_data<T>(dy, w, dx, static_cast<T*>(workspace), d, stream);
  });
}

void conv2d_backward_filter_im2col(const void* dy, const void* x, void* dw, void* workspace,
                                   const Conv2dGeometry& g, DType dtype, const Stream& stream) {
  const ConvDims d = checked_dims(g, workspace, "conv2d_backward_filter");
  cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch(dtype, "conv2d_backward_filter", [&](auto tag) {
    using T = decltype(tag);
    backward_filter<T>(dy, x, dw, static_cast<T*>(workspace), d, stream);
  });
}

}  // namespace cudanet::kernels::cuda
