// Reductions, CUDA: whole-tensor sums and argmax in two deterministic passes (a grid of CUB block
// reductions sized by the element count, then one block over the partials); column sums one
// thread per column; row argmax one warp per row.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/reduce.h"

namespace cudanet::kernels::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block in argmax_dim1

template <typename T>
__device__ __forceinline__ ValueIndex<T> argmax_identity() {
  // Loses to every element: -inf ties with a real -inf, whose index is smaller.
  return {static_cast<T>(-INFINITY), INT64_MAX};
}

template <typename T>
__global__ void sum_forward_kernel(const T* __restrict__ x, std::int64_t n,
                                   double* __restrict__ partials) {
  block_partial_sum<double>([=](std::int64_t i) { return static_cast<double>(x[i]); }, n, partials);
}

template <typename T>
__global__ void argmax_forward_kernel(const T* __restrict__ x, std::int64_t n,
                                      ValueIndex<T>* __restrict__ partials) {
  ValueIndex<T> best = argmax_identity<T>();
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    best = ArgMaxOp()(best, ValueIndex<T>{x[i], i});
  }
  using Block = cub::BlockReduce<ValueIndex<T>, kReduceThreads>;
  __shared__ typename Block::TempStorage tmp;
  best = Block(tmp).Reduce(best, ArgMaxOp());
  if (threadIdx.x == 0) partials[blockIdx.x] = best;
}

template <typename T>
__global__ void finish_argmax_forward_kernel(const ValueIndex<T>* __restrict__ partials,
                                             std::int64_t count, T* __restrict__ value,
                                             std::int64_t* __restrict__ index) {
  ValueIndex<T> best = argmax_identity<T>();
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    best = ArgMaxOp()(best, partials[i]);
  }
  using Block = cub::BlockReduce<ValueIndex<T>, kReduceThreads>;
  __shared__ typename Block::TempStorage tmp;
  best = Block(tmp).Reduce(best, ArgMaxOp());
  if (threadIdx.x == 0) {
    if (value != nullptr) *value = best.value;
    if (index != nullptr) *index = best.index;
  }
}

// Column sums in double, rows in order: the same arithmetic as the CPU reference.
template <typename T>
__global__ void sum_dim0_forward_kernel(const T* __restrict__ x, T* __restrict__ out,
                                        std::int64_t rows, std::int64_t cols) {
  CUDANET_GRID_STRIDE_LOOP(c, cols) {
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) total += static_cast<double>(x[r * cols + c]);
    out[c] = static_cast<T>(total);
  }
}

template <typename T>
__global__ void argmax_dim1_forward_kernel(const T* __restrict__ x, std::int64_t* __restrict__ out,
                                           std::int64_t rows, std::int64_t cols) {
  using Reduce = RowReduce<ValueIndex<T>, 32, kRowsPerBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
       row < rows; row += static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* xr = x + row * cols;
    ValueIndex<T> best = argmax_identity<T>();
    for (std::int64_t c = lane; c < cols; c += 32) {
      best = ArgMaxOp()(best, ValueIndex<T>{xr[c], c});
    }
    best = Reduce::all_reduce(tmp, best, ArgMaxOp());
    if (lane == 0) out[row] = best.index;
  }
}

}  // namespace

void sum_all(const void* x, std::int64_t n, double scale, void* out, DType dtype,
             const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = partial_blocks(n);
  const Tensor partials = scratch_buffer<double>(blocks, stream);
  double* p = static_cast<double*>(partials.data_ptr());
  const cudaStream_t s = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    sum_forward_kernel<T><<<blocks, kReduceThreads, 0, s>>>(static_cast<const T*>(x), n, p);
    CUDANET_LAUNCH_CHECK();
    finish_sum_forward_kernel<double, T>
        <<<1, kReduceThreads, 0, s>>>(p, blocks, scale, static_cast<T*>(out));
    CUDANET_LAUNCH_CHECK();
  });
}

void argmax_all(const void* x, std::int64_t n, void* max_value, std::int64_t* index, DType dtype,
                const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = partial_blocks(n);
  const cudaStream_t s = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const Tensor partials = scratch_buffer<ValueIndex<T>>(blocks, stream);
    auto* p = static_cast<ValueIndex<T>*>(partials.data_ptr());
    argmax_forward_kernel<T><<<blocks, kReduceThreads, 0, s>>>(static_cast<const T*>(x), n, p);
    CUDANET_LAUNCH_CHECK();
    finish_argmax_forward_kernel<T>
        <<<1, kReduceThreads, 0, s>>>(p, blocks, static_cast<T*>(max_value), index);
    CUDANET_LAUNCH_CHECK();
  });
}

void sum_dim0(const void* x, void* out, std::int64_t rows, std::int64_t cols, DType dtype,
              const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    sum_dim0_forward_kernel<T><<<blocks_for(cols), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const T*>(x), static_cast<T*>(out), rows, cols);
    CUDANET_LAUNCH_CHECK();
  });
}

void argmax_dim1(const void* x, std::int64_t* out, std::int64_t rows, std::int64_t cols,
                 DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const std::int64_t wanted = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const unsigned blocks = static_cast<unsigned>(wanted > (1 << 20) ? (1 << 20) : wanted);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    argmax_dim1_forward_kernel<T><<<blocks, 32 * kRowsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const T*>(x), out, rows, cols);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
