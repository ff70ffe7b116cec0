// The tiled GEMM main loop shared by the conv2d kernels (internal; included by .cu files only).
//
// Every conv2d kernel is a GEMM C[M, N] = A[M, K] * B[K, N] whose operands are gathered from the
// tensors by a loader: a small struct whose load(k0, regs) fetches this thread's elements of the
// A (or B) tile that starts at reduction index k0, writing zero for anything out of range (past
// M, N or K, or in the zero padding of the image). The main loop stages the tiles in shared
// memory and accumulates a TM x TN block of C per thread in registers:
//
//   block tile BM x BN, reduction step BK; with ty = t / (BN/TN) and tx = t % (BN/TN), thread t
//   owns rows acc_row(t, i) = ty + i * (BM/TM) and columns acc_col(t, j) = tx + j * (BN/TN) of
//   the block tile, so a warp reads shared memory without bank conflicts (broadcast rows,
//   consecutive columns).
//   Loads: thread t fetches A elements (a_row(t, i), a_col(t)) and B elements (b_row(t, i),
//   b_col(t)); its A column and its B column are fixed, so a loader decomposes that index once.
//
// Note: vector operands (kVectorOperands: float, 8 x 8 per thread, LargeTile). With the mapping
// above a step of the reduction reads its TM + TN = 16 operands as 16 scalar shared loads for 64
// FMAs: one load instruction per four FMAs keeps the shared-memory pipe about as busy as the FMA
// units (one warp-wide load per clock per SM against four FMA warps), so the loads, not the FMAs,
// set the pace. The large tile therefore uses the SGEMM kernel's mapping instead (kernels/cuda/
// sgemm.cu): thread t owns two groups of four consecutive rows, 4 ty + {0..3} and BM/2 + 4 ty +
// {0..3}, and likewise of columns, and reads each group as one float4: 4 load instructions per
// 64 FMAs. A's shared rows are padded to BM + 4 (16-byte aligned rows; the transposing stores stay
// conflict-free). The operands take registers: the kernels ask for two blocks per SM
// (__launch_bounds__, at most 128 registers, as before), and the loop loads A in two halves so
// they fit without spills. The small tile keeps the scalar mapping: vector operands would take it
// from ~50 to ~100 registers, halving the blocks per SM of the small problems it serves.
//
// Note: the next tiles are read from global memory into registers while the current ones are
// multiplied, and shared memory is double-buffered, so each step needs one __syncthreads().
#pragma once

#include <cstdint>

#include "kernels/conv2d.h"

namespace cudanet::kernels::cuda::conv2d_detail {

template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreadsM = BM / TM;
  static constexpr int kThreadsN = BN / TN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static constexpr int kALoads = BM * BK / kThreads;  // A elements per thread and tile
  static constexpr int kBLoads = BK * BN / kThreads;  // B elements per thread and tile
  static_assert(BM % TM == 0 && BN % TN == 0, "thread blocks must tile the block tile");
  static_assert(kThreads % BK == 0 && (BM * BK) % kThreads == 0, "A tile load mapping");
  static_assert(kThreads % BN == 0 && (BK * BN) % kThreads == 0, "B tile load mapping");

  // See the note above. kMinBlocksPerSm is __launch_bounds__'s second argument (0: no minimum).
  static constexpr bool kVectorOperands = TM == 8 && TN == 8;
  static constexpr int kMinBlocksPerSm = kVectorOperands ? 2 : 0;
  static constexpr int kAsLd = BM + (kVectorOperands ? 4 : 1);  // padded row of the shared A tile
  static constexpr int kRowHalf = BM / 2, kColHalf = BN / 2;    // vector operands only

  __device__ static int a_col(int t) { return t % BK; }
  __device__ static int a_row(int t, int i) { return t / BK + i * (kThreads / BK); }
  __device__ static int b_col(int t) { return t % BN; }
  __device__ static int b_row(int t, int i) { return t / BN + i * (kThreads / BN); }
  __device__ static int acc_row(int t, int i) {
    if constexpr (kVectorOperands) return (i / 4) * kRowHalf + (t / kThreadsN) * 4 + i % 4;
    return t / kThreadsN + i * kThreadsM;
  }
  __device__ static int acc_col(int t, int j) {
    if constexpr (kVectorOperands) return (j / 4) * kColHalf + (t % kThreadsN) * 4 + j % 4;
    return t % kThreadsN + j * kThreadsN;
  }
};

// 64 x 64 tiles, BK 16, 4 x 4 per thread, 256 threads: any shape, float and double.
using SmallTile = TileConfig<64, 64, 16, 4, 4>;
// 128 x 128 tiles, BK 8, 8 x 8 per thread, 256 threads: float GEMMs with enough blocks.
using LargeTile = TileConfig<128, 128, 8, 8, 8>;

// *p when ok, else zero (a load guarded by a bounds check).
template <typename T>
__device__ __forceinline__ T zero_or(bool ok, const T* p) {
  return ok ? *p : T(0);
}

// Whether a float GEMM of rows x columns per group should take LargeTile: only when it is tall
// enough and still gives plenty of blocks (a pure function of the shape: reproducible results).
inline bool use_large_tile(std::int64_t rows, std::int64_t columns, std::int64_t groups) {
  const std::int64_t blocks = (rows + LargeTile::BM - 1) / LargeTile::BM *
                              ((columns + LargeTile::BN - 1) / LargeTile::BN) * groups;
  return rows >= 96 && blocks >= 256;
}

// out[0..3] = p[0..3], p 16-byte aligned.
__device__ __forceinline__ void load4(const float* p, float (&out)[4]) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
}

// One step kk of the reduction on the shared tiles: acc += A[:, kk] * B[kk, :] for this thread.
template <typename Cfg, typename T>
__device__ __forceinline__ void multiply_step(const T (&as)[Cfg::BK][Cfg::kAsLd],
                                              const T (&bs)[Cfg::BK][Cfg::BN], int kk, int t,
                                              T (&acc)[Cfg::TM][Cfg::TN]) {
  if constexpr (Cfg::kVectorOperands) {
    static_assert(sizeof(T) == 4, "vector operands are float4 loads");
    // Each group of four starts at acc_row(t, 4h) / acc_col(t, 4h) and is consecutive.
    float b[2][4];
    load4(&bs[kk][Cfg::acc_col(t, 0)], b[0]);
    load4(&bs[kk][Cfg::acc_col(t, 4)], b[1]);
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // A in two halves: fewer operands live at once
      float a[4];
      load4(&as[kk][Cfg::acc_row(t, 4 * h)], a);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[4 * h + i][j] += a[i] * b[j / 4][j % 4];
      }
    }
  } else {
    T af[Cfg::TM], bf[Cfg::TN];
#pragma unroll
    for (int i = 0; i < Cfg::TM; ++i) af[i] = as[kk][Cfg::acc_row(t, i)];
#pragma unroll
    for (int j = 0; j < Cfg::TN; ++j) bf[j] = bs[kk][Cfg::acc_col(t, j)];
#pragma unroll
    for (int i = 0; i < Cfg::TM; ++i) {
#pragma unroll
      for (int j = 0; j < Cfg::TN; ++j) acc[i][j] += af[i] * bf[j];
    }
  }
}

// Writes this thread's loaded elements into the shared tiles.
template <typename Cfg, typename T>
__device__ __forceinline__ void stage_tiles(T (&as)[Cfg::BK][Cfg::kAsLd], T (&bs)[Cfg::BK][Cfg::BN],
                                            const T (&ra)[Cfg::kALoads],
                                            const T (&rb)[Cfg::kBLoads], int t) {
#pragma unroll
  for (int i = 0; i < Cfg::kALoads; ++i) as[Cfg::a_col(t)][Cfg::a_row(t, i)] = ra[i];
#pragma unroll
  for (int i = 0; i < Cfg::kBLoads; ++i) bs[Cfg::b_row(t, i)][Cfg::b_col(t)] = rb[i];
}

// acc = A[:, k_begin:k_end] * B[k_begin:k_end, :] for this block's tile. k_begin is a multiple of
// BK; the loaders return zero past the end of the whole reduction, so k_end may be rounded up to
// a multiple of BK. Every thread of the block must call it with the same range.
template <typename Cfg, typename T, typename ALoader, typename BLoader>
__device__ __forceinline__ void tile_mainloop(const ALoader& a, const BLoader& b,
                                              std::int64_t k_begin, std::int64_t k_end,
                                              T (&acc)[Cfg::TM][Cfg::TN]) {
  __shared__ __align__(16) T as[2][Cfg::BK][Cfg::kAsLd];  // padded: see kAsLd
  __shared__ __align__(16) T bs[2][Cfg::BK][Cfg::BN];
  const int t = static_cast<int>(threadIdx.x);
#pragma unroll
  for (int i = 0; i < Cfg::TM; ++i) {
#pragma unroll
    for (int j = 0; j < Cfg::TN; ++j) acc[i][j] = T(0);
  }
  if (k_begin >= k_end) return;

  T ra[Cfg::kALoads], rb[Cfg::kBLoads];
  a.load(k_begin, ra);
  b.load(k_begin, rb);
  stage_tiles<Cfg>(as[0], bs[0], ra, rb, t);
  __syncthreads();

  int buf = 0;
  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += Cfg::BK) {
    const bool more = k0 + Cfg::BK < k_end;
    if (more) {  // global loads in flight while this tile is multiplied
      a.load(k0 + Cfg::BK, ra);
      b.load(k0 + Cfg::BK, rb);
    }
#pragma unroll
    for (int kk = 0; kk < Cfg::BK; ++kk) multiply_step<Cfg>(as[buf], bs[buf], kk, t, acc);
    // The other buffer was last read before the previous barrier, so it can be refilled now.
    if (more) stage_tiles<Cfg>(as[buf ^ 1], bs[buf ^ 1], ra, rb, t);
    __syncthreads();
    buf ^= 1;
  }
}

// Division by a divisor fixed at launch, as a multiply-high and a shift (Granlund-Montgomery):
// with L = ceil(log2 d) and mul = ceil(2^(31+L) / d) < 2^32, n / d == umulhi(n, mul) >> (L - 1)
// for every 0 <= n < 2^31 (the error term n (mul - 2^(31+L)/d) / 2^(31+L) stays below 1/d).
// The index math of the implicit GEMMs divides by r*s, s, p*q, q, ... for every element loaded,
// and a hardware-less 32-bit division costs about twenty instructions.
struct FastDiv {
  int d = 1;
  unsigned mul = 0, shift = 0;

  FastDiv() = default;
  explicit FastDiv(int divisor) : d(divisor) {
    if (d <= 1) return;
    unsigned l = 0;
    while ((1ull << l) < static_cast<unsigned long long>(d)) ++l;
    mul = static_cast<unsigned>(((1ull << (31 + l)) + d - 1) / d);
    shift = l - 1;
  }
  __device__ int div(int n) const {
    return d == 1 ? n : static_cast<int>(__umulhi(static_cast<unsigned>(n), mul) >> shift);
  }
};

// Sizes of one convolution as the kernels read them. Per-group and per-image extents are below
// 2^31 (checked before launch), so index arithmetic inside a group or image uses int.
struct ConvDims {
  int n, c, h, w;  // x
  int k, r, s;     // w
  int p, q;        // y
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int groups, cg, kg;  // groups, channels per group of x and of y
  int rs, crs, krs;    // r*s, cg*r*s, kg*r*s
  int hw, pq;          // h*w, p*q
  FastDiv by_rs, by_s, by_pq, by_q, by_hw, by_w, by_stride_h, by_stride_w;
};

inline ConvDims make_dims(const Conv2dGeometry& g) {
  const Conv2dParams& p = g.params;
  ConvDims d;
  d.n = static_cast<int>(g.n), d.c = static_cast<int>(g.c);
  d.h = static_cast<int>(g.h), d.w = static_cast<int>(g.w);
  d.k = static_cast<int>(g.k), d.r = static_cast<int>(g.r), d.s = static_cast<int>(g.s);
  d.p = static_cast<int>(g.p), d.q = static_cast<int>(g.q);
  d.stride_h = static_cast<int>(p.stride_h), d.stride_w = static_cast<int>(p.stride_w);
  d.pad_h = static_cast<int>(p.pad_h), d.pad_w = static_cast<int>(p.pad_w);
  d.dilation_h = static_cast<int>(p.dilation_h), d.dilation_w = static_cast<int>(p.dilation_w);
  d.groups = static_cast<int>(p.groups);
  d.cg = d.c / d.groups, d.kg = d.k / d.groups;
  d.rs = d.r * d.s, d.crs = d.cg * d.rs, d.krs = d.kg * d.rs;
  d.hw = d.h * d.w, d.pq = d.p * d.q;
  d.by_rs = FastDiv(d.rs), d.by_s = FastDiv(d.s), d.by_pq = FastDiv(d.pq), d.by_q = FastDiv(d.q);
  d.by_hw = FastDiv(d.hw), d.by_w = FastDiv(d.w);
  d.by_stride_h = FastDiv(d.stride_h), d.by_stride_w = FastDiv(d.stride_w);
  return d;
}

}  // namespace cudanet::kernels::cuda::conv2d_detail
