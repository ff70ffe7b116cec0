// CUDA bias add and bias gradient of the linear op: bias_add_forward_kernel, bias_grad_kernel.
//
// bias_grad_kernel sums the columns of dy [rows, cols] without atomics. A block of 32 x 8
// threads covers 32 adjacent columns (coalesced row reads) and a chunk of kRowsPerBlock rows:
// thread (x, y) sums rows y, y + 8, ... of its column in order, then thread y == 0 adds the eight
// partial sums in order. With more than one chunk the chunk sums go to a workspace
// [chunks, cols] that is reduced again the same way, so the order of every addition depends on
// the shape alone and two runs agree bitwise.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <cuda_runtime_api.h>

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/linear.h"

namespace cudanet::kernels::cuda {

namespace {

constexpr int kColsPerBlock = 32;
constexpr int kRowLanes = 8;
constexpr std::int64_t kRowsPerBlock = 256;

template <typename T>
__global__ void bias_add_forward_kernel(T* __restrict__ y, const T* __restrict__ b,
                                        std::int64_t rows, std::int64_t cols) {
  CUDANET_GRID_STRIDE_LOOP(i, rows * cols) {
    y[i] += b[i % cols];
  }
}

// out[blockIdx.y * cols + col] = sum of rows [blockIdx.y * rows_per_block, ...) of column col;
// with `accumulate` (single chunk only) the sum is added to out instead.
template <typename T>
__global__ void bias_grad_kernel(const T* __restrict__ in, std::int64_t rows, std::int64_t cols,
                                 std::int64_t rows_per_block, T* __restrict__ out,
                                 bool accumulate) {
  __shared__ T partial[kRowLanes][kColsPerBlock + 1];
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kColsPerBlock + threadIdx.x;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_block;
  const std::int64_t end = begin + rows_per_block < rows ? begin + rows_per_block : rows;
  T sum = 0;
  if (col < cols) {
    for (std::int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) sum += in[r * cols + col];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    T total = 0;
#pragma unroll
    for (int lane = 0; lane < kRowLanes; ++lane) total += partial[lane][threadIdx.x];
    T& dst = out[static_cast<std::int64_t>(blockIdx.y) * cols + col];
    dst = accumulate ? dst + total : total;
  }
}

template <typename T>
void bias_add_typed(T* y, const T* b, std::int64_t rows, std::int64_t cols, const Stream& s) {
  bias_add_forward_kernel<T>
      <<<blocks_for(rows * cols), kThreadsPerBlock, 0, raw_stream(s)>>>(y, b, rows, cols);
  CUDANET_LAUNCH_CHECK();
}

template <typename T>
void bias_grad_typed(const T* dy, T* db, std::int64_t rows, std::int64_t cols, bool accumulate,
                     const Stream& s) {
  const dim3 block(kColsPerBlock, kRowLanes);
  const auto col_blocks = static_cast<unsigned>((cols + kColsPerBlock - 1) / kColsPerBlock);
  std::vector<Tensor> workspaces;  // stream-ordered: released after the launches are queued
  const T* in = dy;
  std::int64_t in_rows = rows;
  for (;;) {
    // At most 65535 chunks (the grid's y limit): longer chunks for very tall inputs.
    const std::int64_t per_block = std::max<std::int64_t>(kRowsPerBlock, (in_rows + 65534) / 65535);
    const std::int64_t chunks = (in_rows + per_block - 1) / per_block;
    if (chunks <= 1) {
      bias_grad_kernel<T><<<dim3(col_blocks, 1), block, 0, raw_stream(s)>>>(
          in, in_rows, cols, per_block, db, accumulate);
      CUDANET_LAUNCH_CHECK();
      return;
    }
    Tensor partial;
    {
      ::cudanet::cuda::StreamGuard on_stream(s);
      partial = Tensor::empty({chunks, cols}, dtype_of<T>(), s.device());
    }
    bias_grad_kernel<T>
        <<<dim3(col_blocks, static_cast<unsigned>(chunks)), block, 0, raw_stream(s)>>>(
            in, in_rows, cols, per_block, partial.data<T>(), false);
    CUDANET_LAUNCH_CHECK();
    in = partial.data<T>();
    in_rows = chunks;
    workspaces.push_back(partial);
  }
}

}  // namespace

void bias_add_forward(void* y, const void* b, std::int64_t rows, std::int64_t cols, DType dtype,
                      const Stream& stream) {
  if (rows == 0 || cols == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat32) {
    bias_add_typed(static_cast<float*>(y), static_cast<const float*>(b), rows, cols, stream);
  } else if (dtype == DType::kFloat64) {
    bias_add_typed(static_cast<double*>(y), static_cast<const double*>(b), rows, cols, stream);
  } else {
    CUDANET_THROW(ValueError, "bias_add: dtype ", dtype, " is not supported");
  }
}

void bias_grad(const void* dy, void* db, std::int64_t rows, std::int64_t cols, bool accumulate,
               DType dtype, const Stream& stream) {
  if (cols == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat32) {
    bias_grad_typed(static_cast<const float*>(dy), static_cast<float*>(db), rows, cols, accumulate,
                    stream);
  } else if (dtype == DType::kFloat64) {
    bias_grad_typed(static_cast<const double*>(dy), static_cast<double*>(db), rows, cols,
                    accumulate, stream);
  } else {
    CUDANET_THROW(ValueError, "bias_grad: dtype ", dtype, " is not supported");
  }
}

}  // namespace cudanet::kernels::cuda
