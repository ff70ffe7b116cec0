// cudaemu: the CUB collectives cudanet's kernels use, over the emulator's barriers.
//
// Like CUB, a reduction's result is defined in thread (lane) 0 only; the others get their own
// input back. Nothing here adds a barrier CUB does not have: a kernel that reuses TempStorage
// without __syncthreads() is caught by the race checker (CUDAEMU_RACECHECK=1), and computes
// something else when the emulator runs threads in reverse order (CUDAEMU_ORDER=reverse).
#pragma once

#include <new>
#include <type_traits>

#include "cudaemu/device.h"

namespace cub {

enum BlockReduceAlgorithm {
  BLOCK_REDUCE_RAKING_COMMUTATIVE_ONLY,
  BLOCK_REDUCE_RAKING,
  BLOCK_REDUCE_WARP_REDUCTIONS
};

struct Sum {
  template <typename T>
  T operator()(const T& a, const T& b) const {
    return a + b;
  }
};

template <typename T, int kBlockDimX, BlockReduceAlgorithm = BLOCK_REDUCE_WARP_REDUCTIONS,
          int kBlockDimY = 1, int kBlockDimZ = 1>
class BlockReduce {
  static constexpr int kThreads = kBlockDimX * kBlockDimY * kBlockDimZ;
  static_assert(std::is_trivially_copyable_v<T>, "cudaemu's BlockReduce copies values bytewise");

 public:
  struct TempStorage {
    alignas(T) unsigned char bytes[sizeof(T) * kThreads];
  };

  explicit BlockReduce(TempStorage& storage) : storage_(storage) {}

  T Sum(T value) { return Reduce(value, cub::Sum{}, kThreads); }
  T Sum(T value, int valid) { return Reduce(value, cub::Sum{}, valid); }
  template <typename Op>
  T Reduce(T value, Op op) {
    return Reduce(value, op, kThreads);
  }
  template <typename Op>
  T Reduce(T value, Op op, int valid) {
    const unsigned tid = ::cudaemu::detail::linear_thread();
    if (blockDim.x * blockDim.y * blockDim.z != static_cast<unsigned>(kThreads)) {
      ::cudaemu::detail::device_fault("cub::BlockReduce used in a block of another size");
    }
    new (storage_.bytes + sizeof(T) * tid) T(value);
    __syncthreads();
    if (tid != 0) return value;
    T result = value;
    for (int i = 1; i < valid; ++i) {
      result =
          op(result, *std::launder(reinterpret_cast<const T*>(storage_.bytes + sizeof(T) * i)));
    }
    return result;
  }

 private:
  TempStorage& storage_;
};

template <typename T, int kLogicalWarpThreads = 32>
class WarpReduce {
  static_assert(kLogicalWarpThreads == 32, "cudaemu emulates whole-warp reductions only");

 public:
  struct TempStorage {
    unsigned char unused;
  };

  explicit WarpReduce(TempStorage&) {}

  T Sum(T value) { return Reduce(value, cub::Sum{}); }
  template <typename Op>
  T Reduce(T value, Op op) {
    const unsigned lane = ::cudaemu::detail::linear_thread() % 32u;
    T result = value;
    for (unsigned src = 1; src < 32; ++src) {
      const T other = ::cudaemu::shuffle(value, src);
      if (lane == 0) result = op(result, other);
    }
    return result;
  }
};

template <int kLogicalWarpThreads, typename T>
T ShuffleIndex(T value, int src_lane, unsigned /*member_mask*/) {
  return ::cudaemu::shuffle(value, static_cast<unsigned>(src_lane) % kLogicalWarpThreads);
}

}  // namespace cub
