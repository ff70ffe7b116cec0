// Mean-squared error, CUDA: a fixed grid of CUB block sums of (x - t)^2 in double, then one block
// over the partial sums (kernels/cuda/reduce.cuh); the backward is element-wise.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/mse.h"

namespace cudanet::kernels::cuda {

namespace {

template <typename T>
__global__ void mse_forward_kernel(const T* __restrict__ x, const T* __restrict__ target,
                                   std::int64_t n, double* __restrict__ partials) {
  block_partial_sum<double>(
      [=](std::int64_t i) {
        const double d = static_cast<double>(x[i]) - static_cast<double>(target[i]);
        return d * d;
      },
      n, partials);
}

template <typename T>
__global__ void mse_backward_kernel(const T* __restrict__ x, const T* __restrict__ target,
                                    T* __restrict__ dx, std::int64_t n, T scale) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    dx[i] = scale * (x[i] - target[i]);
  }
}

}  // namespace

void mse_forward(const void* x, const void* target, void* loss, std::int64_t n, DType dtype,
                 const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const unsigned blocks = partial_blocks(n);
  const Tensor partials = scratch_buffer<double>(blocks, stream);
  double* p = static_cast<double*>(partials.data_ptr());
  const cudaStream_t s = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    mse_forward_kernel<T><<<blocks, kReduceThreads, 0, s>>>(static_cast<const T*>(x),
                                                            static_cast<const T*>(target), n, p);
    CUDANET_LAUNCH_CHECK();
    finish_sum_forward_kernel<double, T><<<1, kReduceThreads, 0, s>>>(
        p, blocks, 1.0 / static_cast<double>(n), static_cast<T*>(loss));
    CUDANET_LAUNCH_CHECK();
  });
}

void mse_backward(const void* x, const void* target, void* dx, std::int64_t n, double grad_scale,
                  DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(2.0 * grad_scale / static_cast<double>(n));
    mse_backward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const T*>(x), static_cast<const T*>(target), static_cast<T*>(dx), n, scale);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
