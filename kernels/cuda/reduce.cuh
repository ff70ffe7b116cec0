// Deterministic reduction building blocks shared by the softmax, mse, batchnorm and reduce kernels
// (internal; included by .cu files only).
//
// Note: nothing here uses atomics. Every reduction visits its elements in an order fixed by the
// problem size and the launch shape (which depends only on the problem size), and combines the
// per-thread values with CUB's warp or block reductions, whose trees are fixed too. Two runs on
// the same device therefore give bitwise-identical results.
#pragma once

#include <cstdint>

#include <cub/block/block_reduce.cuh>
#include <cub/util_ptx.cuh>
#include <cub/warp/warp_reduce.cuh>

#include "core/cuda/check.h"
#include "core/tensor.h"
#include "kernels/cuda/launch.cuh"

namespace cudanet::kernels::cuda {

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(const T& a, const T& b) const {
    return a + b;
  }
};

// Maximum that propagates NaN (a NaN anywhere makes the result NaN).
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(const T& a, const T& b) const {
    return (a > b || a != a) ? a : b;
  }
};

// A value and where it was found; the reduction keeps the largest value and, among equal values,
// the smallest index. NaN counts as larger than every number (like PyTorch's argmax).
template <typename T>
struct ValueIndex {
  T value;
  std::int64_t index;
};

struct ArgMaxOp {
  template <typename T>
  __device__ __forceinline__ ValueIndex<T> operator()(const ValueIndex<T>& a,
                                                      const ValueIndex<T>& b) const {
    const bool a_nan = a.value != a.value;
    const bool b_nan = b.value != b.value;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
    return a.index <= b.index ? a : b;
  }
};

// exp and log for float and double in device code.
__device__ __forceinline__ float dev_exp(float x) {
  return expf(x);
}
__device__ __forceinline__ double dev_exp(double x) {
  return exp(x);
}
__device__ __forceinline__ float dev_log(float x) {
  return logf(x);
}
__device__ __forceinline__ double dev_log(double x) {
  return log(x);
}

// All-reduce within a row group: one warp per row (kRowThreads == 32, kRowsPerBlock warps in the
// block) or the whole block per row (kRowsPerBlock == 1, blockDim.x == kRowThreads). Every thread
// of the group must call it, and every thread gets the result.
template <typename Acc, int kRowThreads, int kRowsPerBlock>
struct RowReduce {
  static_assert(kRowThreads == 32 || kRowsPerBlock == 1, "a row is a warp or a whole block");
  using Warp = cub::WarpReduce<Acc>;
  using Block = cub::BlockReduce<Acc, kRowThreads>;
  struct BlockStorage {
    typename Block::TempStorage reduce;
    Acc result;
  };
  union TempStorage {
    typename Warp::TempStorage warp[kRowsPerBlock];
    BlockStorage block;
  };

  template <typename Op>
  __device__ __forceinline__ static Acc all_reduce(TempStorage& tmp, Acc v, Op op) {
    if constexpr (kRowThreads == 32) {
      Acc r = Warp(tmp.warp[threadIdx.x / 32]).Reduce(v, op);
      r = cub::ShuffleIndex<32>(r, 0, 0xffffffffu);  // any type, lane 0 to all
      __syncwarp();  // the warp's storage may be reused by the next call
      return r;
    } else {
      Acc r = Block(tmp.block.reduce).Reduce(v, op);
      if (threadIdx.x == 0) tmp.block.result = r;
      __syncthreads();
      r = tmp.block.result;
      __syncthreads();  // everyone has read the result before the storage is reused
      return r;
    }
  }
};

// ---- whole-tensor sums in two passes (fixed grid, then one block over the partial sums) ----

constexpr int kReduceThreads = 256;
constexpr std::int64_t kMaxPartials = 1024;

// Blocks of the first pass for n elements: a function of n only, so the result is reproducible.
inline unsigned partial_blocks(std::int64_t n) {
  const std::int64_t b = (n + kReduceThreads - 1) / kReduceThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxPartials ? kMaxPartials : b));
}

// First pass: block b sums load(i) over its grid-stride share of [0, n) into partials[b].
template <typename Acc, typename Load>
__device__ __forceinline__ void block_partial_sum(Load load, std::int64_t n, Acc* partials) {
  Acc acc = Acc(0);
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    acc += load(i);
  }
  using Block = cub::BlockReduce<Acc, kReduceThreads>;
  __shared__ typename Block::TempStorage tmp;
  const Acc total = Block(tmp).Sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// Second pass (one block): out[0] = T(scale * sum of the partials). In an unnamed namespace so that
// each .cu file owns its instantiations (no kernel symbol shared between translation units).
namespace {
template <typename Acc, typename T>
__global__ void finish_sum_forward_kernel(const Acc* partials, std::int64_t count, double scale,
                                          T* out) {
  Acc acc = Acc(0);
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  using Block = cub::BlockReduce<Acc, kReduceThreads>;
  __shared__ typename Block::TempStorage tmp;
  const Acc total = Block(tmp).Sum(acc);
  if (threadIdx.x == 0) out[0] = static_cast<T>(static_cast<double>(total) * scale);
}
}  // namespace

// Device scratch memory for `count` values of type V, allocated for `stream` (stream-ordered
// through the caching allocator, so the Tensor may be dropped as soon as the launches are queued).
template <typename V>
Tensor scratch_buffer(std::int64_t count, const Stream& stream) {
  ::cudanet::cuda::StreamGuard guard(stream);
  return Tensor::empty({count * static_cast<std::int64_t>(sizeof(V))}, DType::kUInt8,
                       stream.device());
}

}  // namespace cudanet::kernels::cuda
