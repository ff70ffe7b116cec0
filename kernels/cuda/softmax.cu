// Softmax family, CUDA: one warp per row for C <= 512 (eight rows per 256-thread block), one
// 256-thread block per row above that; max and sum with CUB (kernels/cuda/reduce.cuh). The
// cross-entropy mean over rows is a second one-block kernel over per-row losses: no atomics.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/softmax.h"

namespace cudanet::kernels::cuda {

namespace {

constexpr int kWarpRowsPerBlock = 8;
constexpr int kBlockRowThreads = 256;
constexpr std::int64_t kWarpRowMaxCols = 512;

// The rows handled by this thread's row group: a grid-stride loop that is uniform within the
// group (so every thread of a group takes part in each reduction).
#define CUDANET_ROW_LOOP(row, rows, kRowThreads, kRowsPerBlock)                                   \
  for (std::int64_t row =                                                                         \
           static_cast<std::int64_t>(blockIdx.x) * (kRowsPerBlock) + threadIdx.x / (kRowThreads); \
       row < (rows); row += static_cast<std::int64_t>(gridDim.x) * (kRowsPerBlock))

template <typename T>
__device__ __forceinline__ T neg_inf() {
  return static_cast<T>(-INFINITY);
}

// Row maximum m and sum of exp(x - m), known to every thread of the row group.
template <typename Reduce, int kRowThreads, typename T>
__device__ __forceinline__ void row_max_sum(typename Reduce::TempStorage& tmp, const T* xr,
                                            std::int64_t cols, T* m_out, T* s_out) {
  const int lane = static_cast<int>(threadIdx.x % kRowThreads);
  T m = neg_inf<T>();
  for (std::int64_t c = lane; c < cols; c += kRowThreads) m = MaxOp()(m, xr[c]);
  m = Reduce::all_reduce(tmp, m, MaxOp());
  T s = T(0);
  for (std::int64_t c = lane; c < cols; c += kRowThreads) s += dev_exp(xr[c] - m);
  *s_out = Reduce::all_reduce(tmp, s, SumOp());
  *m_out = m;
}

template <typename T, int kRowThreads, int kRowsPerBlock, bool kLog>
__global__ void softmax_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                       std::int64_t rows, std::int64_t cols) {
  using Reduce = RowReduce<T, kRowThreads, kRowsPerBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  const int lane = static_cast<int>(threadIdx.x % kRowThreads);
  CUDANET_ROW_LOOP(row, rows, kRowThreads, kRowsPerBlock) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    T m, s;
    row_max_sum<Reduce, kRowThreads>(tmp, xr, cols, &m, &s);
    if (kLog) {
      const T log_s = dev_log(s);
      for (std::int64_t c = lane; c < cols; c += kRowThreads) yr[c] = xr[c] - m - log_s;
    } else {
      for (std::int64_t c = lane; c < cols; c += kRowThreads) yr[c] = dev_exp(xr[c] - m) / s;
    }
  }
}

template <typename T, int kRowThreads, int kRowsPerBlock, bool kLog>
__global__ void softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ dy,
                                        T* __restrict__ dx, std::int64_t rows, std::int64_t cols) {
  using Reduce = RowReduce<T, kRowThreads, kRowsPerBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  const int lane = static_cast<int>(threadIdx.x % kRowThreads);
  CUDANET_ROW_LOOP(row, rows, kRowThreads, kRowsPerBlock) {
    const std::int64_t base = row * cols;
    T dot = T(0);  // softmax: sum dy * y; log-softmax: sum dy
    for (std::int64_t c = lane; c < cols; c += kRowThreads) {
      dot += kLog ? dy[base + c] : dy[base + c] * y[base + c];
    }
    dot = Reduce::all_reduce(tmp, dot, SumOp());
    for (std::int64_t c = lane; c < cols; c += kRowThreads) {
      const T yv = y[base + c];
      dx[base + c] = kLog ? dy[base + c] - dev_exp(yv) * dot : yv * (dy[base + c] - dot);
    }
  }
}

// Per-row losses log(sum exp(x - m)) - (x[label] - m) into row_loss (double), and optionally the
// probabilities.
template <typename T, int kRowThreads, int kRowsPerBlock>
__global__ void softmax_cross_entropy_forward_kernel(const T* __restrict__ logits,
                                                     const std::int64_t* __restrict__ labels,
                                                     T* __restrict__ probs,
                                                     double* __restrict__ row_loss,
                                                     std::int64_t rows, std::int64_t cols) {
  using Reduce = RowReduce<T, kRowThreads, kRowsPerBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  const int lane = static_cast<int>(threadIdx.x % kRowThreads);
  CUDANET_ROW_LOOP(row, rows, kRowThreads, kRowsPerBlock) {
    const T* xr = logits + row * cols;
    T m, s;
    row_max_sum<Reduce, kRowThreads>(tmp, xr, cols, &m, &s);
    if (probs != nullptr) {
      T* pr = probs + row * cols;
      for (std::int64_t c = lane; c < cols; c += kRowThreads) pr[c] = dev_exp(xr[c] - m) / s;
    }
    if (lane == 0) {
      // A label outside [0, cols) gives a NaN loss, never a read outside the row: the host check
      // (kernels/softmax.cc) is skipped while a CUDA graph is captured, and a replay checks
      // nothing, so a bad label must still surface (as a non-finite loss) and corrupt nothing.
      const std::int64_t label = labels[row];
      row_loss[row] = label >= 0 && label < cols
                          ? static_cast<double>(dev_log(s) - (xr[label] - m))
                          : __longlong_as_double(0x7ff8000000000000LL);  // quiet NaN
    }
  }
}

template <typename T>
__global__ void softmax_cross_entropy_backward_kernel(const T* __restrict__ probs,
                                                      const std::int64_t* __restrict__ labels,
                                                      T* __restrict__ dx, std::int64_t rows,
                                                      std::int64_t cols, T scale) {
  CUDANET_GRID_STRIDE_LOOP(i, rows * cols) {
    const std::int64_t n = i / cols;
    const std::int64_t c = i - n * cols;
    dx[i] = scale * (probs[i] - (c == labels[n] ? T(1) : T(0)));
  }
}

// Blocks for `rows` rows at `rows_per_block` per block (the row loops cover any excess).
unsigned row_blocks(std::int64_t rows, int rows_per_block) {
  const std::int64_t b = (rows + rows_per_block - 1) / rows_per_block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

constexpr int kWarpBlockThreads = 32 * kWarpRowsPerBlock;

// Each launcher picks warp-per-row for narrow rows and block-per-row for wide ones.
template <typename T, bool kLog>
void launch_forward(const T* x, T* y, std::int64_t rows, std::int64_t cols, cudaStream_t s) {
  if (cols <= kWarpRowMaxCols) {
    softmax_forward_kernel<T, 32, kWarpRowsPerBlock, kLog>
        <<<row_blocks(rows, kWarpRowsPerBlock), kWarpBlockThreads, 0, s>>>(x, y, rows, cols);
    CUDANET_LAUNCH_CHECK();
  } else {
    softmax_forward_kernel<T, kBlockRowThreads, 1, kLog>
        <<<row_blocks(rows, 1), kBlockRowThreads, 0, s>>>(x, y, rows, cols);
    CUDANET_LAUNCH_CHECK();
  }
}

template <typename T, bool kLog>
void launch_backward(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols,
                     cudaStream_t s) {
  if (cols <= kWarpRowMaxCols) {
    softmax_backward_kernel<T, 32, kWarpRowsPerBlock, kLog>
        <<<row_blocks(rows, kWarpRowsPerBlock), kWarpBlockThreads, 0, s>>>(y, dy, dx, rows, cols);
    CUDANET_LAUNCH_CHECK();
  } else {
    softmax_backward_kernel<T, kBlockRowThreads, 1, kLog>
        <<<row_blocks(rows, 1), kBlockRowThreads, 0, s>>>(y, dy, dx, rows, cols);
    CUDANET_LAUNCH_CHECK();
  }
}

template <typename T>
void launch_cross_entropy(const T* logits, const std::int64_t* labels, T* probs, double* row_loss,
                          std::int64_t rows, std::int64_t cols, cudaStream_t s) {
  if (cols <= kWarpRowMaxCols) {
    softmax_cross_entropy_forward_kernel<T, 32, kWarpRowsPerBlock>
        <<<row_blocks(rows, kWarpRowsPerBlock), kWarpBlockThreads, 0, s>>>(logits, labels, probs,
                                                                           row_loss, rows, cols);
    CUDANET_LAUNCH_CHECK();
  } else {
    softmax_cross_entropy_forward_kernel<T, kBlockRowThreads, 1>
        <<<row_blocks(rows, 1), kBlockRowThreads, 0, s>>>(logits, labels, probs, row_loss, rows,
                                                          cols);
    CUDANET_LAUNCH_CHECK();
  }
}

}  // namespace

void softmax_forward(const void* x, void* y, std::int64_t rows, std::int64_t cols, bool log,
                     DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = log ? launch_forward<T, true> : launch_forward<T, false>;
    launch(static_cast<const T*>(x), static_cast<T*>(y), rows, cols, raw_stream(stream));
  });
}

void softmax_backward(const void* y, const void* dy, void* dx, std::int64_t rows, std::int64_t cols,
                      bool log, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = log ? launch_backward<T, true> : launch_backward<T, false>;
    launch(static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), rows, cols,
           raw_stream(stream));
  });
}

void softmax_cross_entropy_forward(const void* logits, const std::int64_t* labels, void* probs,
                                   void* loss, std::int64_t rows, std::int64_t cols, DType dtype,
                                   const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const Tensor row_loss = scratch_buffer<double>(rows, stream);
  double* rl = static_cast<double*>(row_loss.data_ptr());
  const cudaStream_t s = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_cross_entropy(static_cast<const T*>(logits), labels, static_cast<T*>(probs), rl, rows,
                         cols, s);
    finish_sum_forward_kernel<double, T><<<1, kReduceThreads, 0, s>>>(
        rl, rows, 1.0 / static_cast<double>(rows), static_cast<T*>(loss));
    CUDANET_LAUNCH_CHECK();
  });
}

void softmax_cross_entropy_backward(const void* probs, const std::int64_t* labels, void* dx,
                                    std::int64_t rows, std::int64_t cols, double grad_scale,
                                    DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(grad_scale / static_cast<double>(rows));
    softmax_cross_entropy_backward_kernel<T>
        <<<blocks_for(rows * cols), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            static_cast<const T*>(probs), labels, static_cast<T*>(dx), rows, cols, scale);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
