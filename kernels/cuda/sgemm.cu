// Hand-written GEMM kernels: sgemm_tiled_kernel (float32) and dgemm_tiled_kernel (float64).
//
// sgemm_tiled_kernel: each block of 256 threads computes a 128x128 tile of C, stepping through K
// in slices of 8. Per slice a thread loads one float4 of A and one of B from global memory (a
// vector load when the operand's row stride and address allow it, else up to four bounds-checked
// scalar loads that read zero outside the matrix), and the tiles go to shared memory stored
// k-major (As[k][m], Bs[k][n]) whatever the operand's transposition, so the inner loop is the same
// for all four transpose combinations. Each thread accumulates an 8x8 block of C in registers:
// rows {4ty..4ty+3, 64+4ty..64+4ty+3} and columns {4tx..4tx+3, 64+4tx..64+4tx+3} (tx, ty in
// 0..15), read from shared memory as float4s. The shared tiles are double-buffered: the global
// loads of slice s+1 are in flight while slice s is multiplied, and one barrier per slice
// suffices. Shared rows are padded to 132 floats so the transposing stores are conflict-free.
//
// Blocks are numbered in groups of 8 tile rows so that blocks running together share A and B
// panels in L2. When the tiles alone cannot fill the GPU (e.g. a batch-128 linear layer: 32
// tiles), K is split across blocks: each writes its partial tile to a workspace, and
// gemm_splitk_reduce_kernel sums the partials in a fixed order (no atomics: deterministic).
//
// dgemm_tiled_kernel is the simple float64 variant: 64x64 tiles, K slices of 16, 4x4 results
// per thread, single-buffered.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"

namespace cudanet::kernels::cuda {

namespace {

constexpr int kBM = 128;                  // tile rows (M)
constexpr int kBN = 128;                  // tile columns (N)
constexpr int kBK = 8;                    // K slice
constexpr int kSgemmThreads = 256;        // 16 x 16 threads, 8 x 8 results each
constexpr int kSmemLd = kBM + 4;          // padded shared row (floats); multiple of 4 for float4
constexpr int kGroupM = 8;                // tile rows per group in the block order
constexpr int kMaxSplits = 16;            // split-K limit
constexpr std::int64_t kMinSplitK = 256;  // least K per split

constexpr int kDB = 64;   // dgemm tile
constexpr int kDBK = 16;  // dgemm K slice

template <typename T>
struct GemmArgs {
  const T* __restrict__ a;
  const T* __restrict__ b;
  T* __restrict__ c;
  T* __restrict__ partial;  // split-K workspace [splits, m, n], or nullptr
  std::int64_t m, n, k, lda, ldb, ldc;
  std::int64_t tiles_m, tiles_n;
  std::int64_t k_chunk;  // K per split (a multiple of kBK)
  T alpha, beta;
  bool vec_a, vec_b, vec_c;  // float4 access allowed (16-byte aligned base, stride % 4 == 0)
};

// Tile origin of block `pid`: tiles are visited down groups of kGroupM tile rows, column by
// column, so consecutive blocks reuse the same panels of A and B.
__device__ __forceinline__ void tile_origin(std::int64_t pid, std::int64_t tiles_m,
                                            std::int64_t tiles_n, int bm, int bn, std::int64_t* m0,
                                            std::int64_t* n0) {
  const std::int64_t per_group = kGroupM * tiles_n;
  const std::int64_t first_m = (pid / per_group) * kGroupM;
  const std::int64_t group_m =
      tiles_m - first_m < kGroupM ? tiles_m - first_m : static_cast<std::int64_t>(kGroupM);
  const std::int64_t in_group = pid % per_group;
  *m0 = (first_m + in_group % group_m) * bm;
  *n0 = (in_group / group_m) * bn;
}

__device__ __forceinline__ std::int64_t clamp4(std::int64_t v) {
  return v < 0 ? 0 : (v > 4 ? 4 : v);
}

// p[0..count-1] (count in 0..4), zeros after; one 16-byte load when allowed and complete.
__device__ __forceinline__ float4 load4(const float* p, std::int64_t count, bool vec) {
  if (vec && count == 4) return __ldg(reinterpret_cast<const float4*>(p));
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (count > 0) v.x = __ldg(p);
  if (count > 1) v.y = __ldg(p + 1);
  if (count > 2) v.z = __ldg(p + 2);
  if (count > 3) v.w = __ldg(p + 3);
  return v;
}

// One float4 of the A slice [m0, m0+128) x [k0, k0+8) for this thread, zero outside.
template <bool kTransA>
__device__ __forceinline__ float4 load_a(const GemmArgs<float>& g, std::int64_t m0, std::int64_t k0,
                                         std::int64_t k_end, int t) {
  if (!kTransA) {  // stored [M, K]: four consecutive k of row m
    const std::int64_t gm = m0 + (t >> 1), gk = k0 + (t & 1) * 4;
    const std::int64_t count = gm < g.m ? clamp4(k_end - gk) : 0;
    return load4(count > 0 ? g.a + gm * g.lda + gk : g.a, count, g.vec_a);
  } else {  // stored [K, M]: four consecutive m of row k
    const std::int64_t gk = k0 + (t >> 5), gm = m0 + (t & 31) * 4;
    const std::int64_t count = gk < k_end ? clamp4(g.m - gm) : 0;
    return load4(count > 0 ? g.a + gk * g.lda + gm : g.a, count, g.vec_a);
  }
}

// One float4 of the B slice [k0, k0+8) x [n0, n0+128) for this thread, zero outside.
template <bool kTransB>
__device__ __forceinline__ float4 load_b(const GemmArgs<float>& g, std::int64_t n0, std::int64_t k0,
                                         std::int64_t k_end, int t) {
  if (!kTransB) {  // stored [K, N]: four consecutive n of row k
    const std::int64_t gk = k0 + (t >> 5), gn = n0 + (t & 31) * 4;
    const std::int64_t count = gk < k_end ? clamp4(g.n - gn) : 0;
    return load4(count > 0 ? g.b + gk * g.ldb + gn : g.b, count, g.vec_b);
  } else {  // stored [N, K]: four consecutive k of row n
    const std::int64_t gn = n0 + (t >> 1), gk = k0 + (t & 1) * 4;
    const std::int64_t count = gn < g.n ? clamp4(k_end - gk) : 0;
    return load4(count > 0 ? g.b + gn * g.ldb + gk : g.b, count, g.vec_b);
  }
}

// Stores a loaded float4 into the k-major shared tile s[k][x]. `contiguous_k` says the four
// values run along k (then they are scattered over four shared rows).
__device__ __forceinline__ void store_tile(float (*s)[kSmemLd], float4 v, bool contiguous_k,
                                           int t) {
  if (contiguous_k) {
    const int x = t >> 1, k = (t & 1) * 4;
    s[k][x] = v.x;
    s[k + 1][x] = v.y;
    s[k + 2][x] = v.z;
    s[k + 3][x] = v.w;
  } else {
    *reinterpret_cast<float4*>(&s[t >> 5][(t & 31) * 4]) = v;
  }
}

}  // namespace

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kSgemmThreads, 2) sgemm_tiled_kernel(const GemmArgs<float> g) {
  __shared__ __align__(16) float as[2][kBK][kSmemLd];
  __shared__ __align__(16) float bs[2][kBK][kSmemLd];

  const int t = static_cast<int>(threadIdx.x);
  const int tx = t & 15, ty = t >> 4;
  std::int64_t m0, n0;
  tile_origin(blockIdx.x, g.tiles_m, g.tiles_n, kBM, kBN, &m0, &n0);
  const std::int64_t split = blockIdx.y;
  const std::int64_t k_begin = split * g.k_chunk;
  const std::int64_t k_end = k_begin + g.k_chunk < g.k ? k_begin + g.k_chunk : g.k;
  const std::int64_t slices = k_end > k_begin ? (k_end - k_begin + kBK - 1) / kBK : 0;

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  }

  if (slices > 0) {
    store_tile(as[0], load_a<kTransA>(g, m0, k_begin, k_end, t), !kTransA, t);
    store_tile(bs[0], load_b<kTransB>(g, n0, k_begin, k_end, t), kTransB, t);
    __syncthreads();
  }
  for (std::int64_t s = 0; s < slices; ++s) {
    const int cur = static_cast<int>(s & 1);
    const bool more = s + 1 < slices;
    float4 next_a = make_float4(0.f, 0.f, 0.f, 0.f), next_b = next_a;
    if (more) {  // in flight while this slice is multiplied
      const std::int64_t k0 = k_begin + (s + 1) * kBK;
      next_a = load_a<kTransA>(g, m0, k0, k_end, t);
      next_b = load_b<kTransB>(g, n0, k0, k_end, t);
    }
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&as[cur][k][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&as[cur][k][64 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&bs[cur][k][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&bs[cur][k][64 + tx * 4]);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    if (more) {  // the other buffer was last read before the previous barrier
      store_tile(as[cur ^ 1], next_a, !kTransA, t);
      store_tile(bs[cur ^ 1], next_b, kTransB, t);
    }
    __syncthreads();
  }

  // Epilogue: a partial tile to the split-K workspace, or alpha * acc + beta * C.
  const bool to_partial = g.partial != nullptr;
  const bool vec_partial = (g.n & 3) == 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const std::int64_t gm = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    if (gm >= g.m) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t gn = n0 + h * 64 + tx * 4;
      const std::int64_t count = clamp4(g.n - gn);
      if (count == 0) continue;
      float v[4] = {acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]};
      float* dst;
      bool vec;
      if (to_partial) {
        dst = g.partial + (split * g.m + gm) * g.n + gn;
        vec = vec_partial;
      } else {
        dst = g.c + gm * g.ldc + gn;
        vec = g.vec_c;
        if (g.beta != 0.f) {  // beta == 0: C is not read (it may hold NaN)
          float old[4] = {0.f, 0.f, 0.f, 0.f};
          if (vec && count == 4) {
            const float4 o = *reinterpret_cast<const float4*>(dst);
            old[0] = o.x;
            old[1] = o.y;
            old[2] = o.z;
            old[3] = o.w;
          } else {
            for (int j = 0; j < count; ++j) old[j] = dst[j];
          }
#pragma unroll
          for (int j = 0; j < 4; ++j) v[j] = g.alpha * v[j] + g.beta * old[j];
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j) v[j] = g.alpha * v[j];
        }
      }
      if (vec && count == 4) {
        *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
        for (int j = 0; j < count; ++j) dst[j] = v[j];
      }
    }
  }
}

// C = alpha * (sum of the split-K partials) + beta * C, summing the splits in order.
template <typename T>
__global__ void gemm_splitk_reduce_kernel(const T* __restrict__ partial, int splits, std::int64_t m,
                                          std::int64_t n, T alpha, T beta, T* __restrict__ c,
                                          std::int64_t ldc) {
  const std::int64_t total = m * n;
  CUDANET_GRID_STRIDE_LOOP(idx, total) {
    T sum = 0;
    for (int s = 0; s < splits; ++s) sum += partial[s * total + idx];
    const std::int64_t i = idx / n, j = idx - i * n;
    T& out = c[i * ldc + j];
    out = beta != T(0) ? alpha * sum + beta * out : alpha * sum;
  }
}

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(256) dgemm_tiled_kernel(const GemmArgs<double> g) {
  __shared__ double as[kDBK][kDB + 1];
  __shared__ double bs[kDBK][kDB + 1];
  const int t = static_cast<int>(threadIdx.x);
  const int tx = t & 15, ty = t >> 4;
  std::int64_t m0, n0;
  tile_origin(blockIdx.x, g.tiles_m, g.tiles_n, kDB, kDB, &m0, &n0);

  double acc[4][4] = {};
  for (std::int64_t k0 = 0; k0 < g.k; k0 += kDBK) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int idx = t + e * 256;
      // Threads step along the stored row of each operand, so the loads coalesce.
      const int ak = kTransA ? idx / kDB : idx % kDBK, am = kTransA ? idx % kDB : idx / kDBK;
      const std::int64_t gm = m0 + am, gka = k0 + ak;
      as[ak][am] =
          gm < g.m && gka < g.k ? (kTransA ? g.a[gka * g.lda + gm] : g.a[gm * g.lda + gka]) : 0.0;
      const int bk = kTransB ? idx % kDBK : idx / kDB, bn = kTransB ? idx / kDBK : idx % kDB;
      const std::int64_t gn = n0 + bn, gkb = k0 + bk;
      bs[bk][bn] =
          gn < g.n && gkb < g.k ? (kTransB ? g.b[gn * g.ldb + gkb] : g.b[gkb * g.ldb + gn]) : 0.0;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kDBK; ++k) {
      double av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const std::int64_t gm = m0 + ty + 16 * i;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const std::int64_t gn = n0 + tx + 16 * j;
      if (gm < g.m && gn < g.n) {
        double& out = g.c[gm * g.ldc + gn];
        out = g.beta != 0.0 ? g.alpha * acc[i][j] + g.beta * out : g.alpha * acc[i][j];
      }
    }
  }
}

namespace {

bool vec_ok(const void* p, std::int64_t ld) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0 && ld % 4 == 0;
}

// Calls f(bool_constant<trans_a>, bool_constant<trans_b>).
template <typename F>
void dispatch_trans(bool ta, bool tb, F&& f) {
  using F0 = std::false_type;
  using T1 = std::true_type;
  if (!ta && !tb) f(F0{}, F0{});
  if (!ta && tb) f(F0{}, T1{});
  if (ta && !tb) f(T1{}, F0{});
  if (ta && tb) f(T1{}, T1{});
}

int multiprocessors(int device) {
  int count = 0;
  CUDANET_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

template <typename T>
GemmArgs<T> make_args(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  GemmArgs<T> g{};
  g.a = a;
  g.b = b;
  g.c = c;
  g.partial = nullptr;
  g.m = p.m;
  g.n = p.n;
  g.k = p.k;
  g.lda = p.lda;
  g.ldb = p.ldb;
  g.ldc = p.ldc;
  g.alpha = alpha;
  g.beta = beta;
  return g;
}

void check_grid(std::int64_t blocks) {
  CUDANET_CHECK(blocks <= std::numeric_limits<int>::max(), ValueError, "gemm (native): ", blocks,
                " tiles exceed the launch limit");
}

void sgemm(const GemmProblem& p, float alpha, const float* a, const float* b, float beta, float* c,
           const Stream& stream) {
  GemmArgs<float> g = make_args(p, alpha, a, b, beta, c);
  g.tiles_m = ceil_div(p.m, kBM);
  g.tiles_n = ceil_div(p.n, kBN);
  const std::int64_t tiles = g.tiles_m * g.tiles_n;
  check_grid(tiles);
  g.vec_a = vec_ok(a, p.lda);
  g.vec_b = vec_ok(b, p.ldb);
  g.vec_c = vec_ok(c, p.ldc);

  // Split K when the tiles fill less than one wave (two blocks per SM), keeping at least
  // kMinSplitK of K per split and not exceeding one wave in total.
  const std::int64_t wave = 2LL * multiprocessors(stream.device().index());
  std::int64_t splits = 1;
  if (tiles * 2 <= wave && p.k >= 2 * kMinSplitK) {
    splits = std::min<std::int64_t>({wave / tiles, p.k / kMinSplitK, kMaxSplits});
  }
  g.k_chunk = std::max<std::int64_t>(ceil_div(ceil_div(p.k, splits), kBK) * kBK, kBK);
  splits = std::max<std::int64_t>(ceil_div(p.k, g.k_chunk), 1);

  Tensor workspace;
  if (splits > 1) {
    // Allocated for `stream` (stream-ordered: released after the reduction is queued).
    ::cudanet::cuda::StreamGuard on_stream(stream);
    workspace = Tensor::empty({splits, p.m, p.n}, DType::kFloat32, stream.device());
    g.partial = workspace.data<float>();
  }
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits));
  dispatch_trans(p.trans_a, p.trans_b, [&](auto ta, auto tb) {
    sgemm_tiled_kernel<decltype(ta)::value, decltype(tb)::value>
        <<<grid, kSgemmThreads, 0, raw_stream(stream)>>>(g);
    CUDANET_LAUNCH_CHECK();
  });
  if (splits > 1) {
    gemm_splitk_reduce_kernel<float>
        <<<blocks_for(p.m * p.n), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            g.partial, static_cast<int>(splits), p.m, p.n, alpha, beta, c, p.ldc);
    CUDANET_LAUNCH_CHECK();
  }
}

void dgemm(const GemmProblem& p, double alpha, const double* a, const double* b, double beta,
           double* c, const Stream& stream) {
  GemmArgs<double> g = make_args(p, alpha, a, b, beta, c);
  g.k_chunk = p.k;
  g.tiles_m = ceil_div(p.m, kDB);
  g.tiles_n = ceil_div(p.n, kDB);
  const std::int64_t tiles = g.tiles_m * g.tiles_n;
  check_grid(tiles);
  dispatch_trans(p.trans_a, p.trans_b, [&](auto ta, auto tb) {
    dgemm_tiled_kernel<decltype(ta)::value, decltype(tb)::value>
        <<<static_cast<unsigned>(tiles), 256, 0, raw_stream(stream)>>>(g);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace

void gemm_native(const GemmProblem& p, double alpha, const void* a, const void* b, double beta,
                 void* c, DType dtype, const Stream& stream) {
  CUDANET_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64, ValueError,
                "gemm (native): dtype ", dtype, " is not supported; float32 or float64 is needed");
  if (p.m == 0 || p.n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat32) {
    sgemm(p, static_cast<float>(alpha), static_cast<const float*>(a), static_cast<const float*>(b),
          static_cast<float>(beta), static_cast<float*>(c), stream);
  } else {
    dgemm(p, alpha, static_cast<const double*>(a), static_cast<const double*>(b), beta,
          static_cast<double*>(c), stream);
  }
}

}  // namespace cudanet::kernels::cuda
