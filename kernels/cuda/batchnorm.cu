// Batch normalisation, CUDA: one 256-thread block per channel for the training forward and the
// backward (CUB BlockReduce in double, no atomics); an element-wise kernel for inference.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/batchnorm.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.cuh"

namespace cudanet::kernels::cuda {

namespace {

constexpr int kChannelThreads = 256;
using ChannelReduce = cub::BlockReduce<double, kChannelThreads>;

// Calls f(index) for this thread's share of channel c of x viewed as [N, C, S], stepping by
// blockDim.x through the N*S values in a fixed order (no divisions inside the loop).
template <typename F>
__device__ __forceinline__ void for_channel(const BatchNormGeometry& g, std::int64_t c, F&& f) {
  std::int64_t n = threadIdx.x / g.s;
  std::int64_t s = threadIdx.x % g.s;
  const std::int64_t step_n = blockDim.x / g.s;
  const std::int64_t step_s = blockDim.x % g.s;
  while (n < g.n) {
    f((n * g.c + c) * g.s + s);
    n += step_n;
    s += step_s;
    if (s >= g.s) {
      s -= g.s;
      ++n;
    }
  }
}

template <typename T>
__global__ void batchnorm_forward_training_kernel(
    const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
    T* __restrict__ y, T* __restrict__ running_mean, T* __restrict__ running_var,
    T* __restrict__ save_mean, T* __restrict__ save_inv_std, BatchNormGeometry g, double eps,
    double momentum) {
  __shared__ typename ChannelReduce::TempStorage tmp;
  __shared__ double shared_mean;
  __shared__ double shared_inv_std;
  const std::int64_t c = blockIdx.x;
  const double count = static_cast<double>(g.n * g.s);

  double sum = 0;
  for_channel(g, c, [&](std::int64_t i) { sum += static_cast<double>(x[i]); });
  sum = ChannelReduce(tmp).Sum(sum);
  if (threadIdx.x == 0) shared_mean = sum / count;
  __syncthreads();
  const double mean = shared_mean;

  double sq = 0;
  for_channel(g, c, [&](std::int64_t i) {
    const double d = static_cast<double>(x[i]) - mean;
    sq += d * d;
  });
  sq = ChannelReduce(tmp).Sum(sq);
  if (threadIdx.x == 0) {
    const double inv_std = 1.0 / sqrt(sq / count + eps);
    shared_inv_std = inv_std;
    save_mean[c] = static_cast<T>(mean);
    save_inv_std[c] = static_cast<T>(inv_std);
    if (running_mean != nullptr) {
      running_mean[c] =
          static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
      running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * sq / (count - 1));
    }
  }
  __syncthreads();
  const T scale = static_cast<T>(static_cast<double>(gamma[c]) * shared_inv_std);
  const T shift = beta[c];
  const T m = static_cast<T>(mean);
  for_channel(g, c, [&](std::int64_t i) { y[i] = (x[i] - m) * scale + shift; });
}

template <typename T>
__global__ void batchnorm_forward_inference_kernel(const T* __restrict__ x,
                                                   const T* __restrict__ gamma,
                                                   const T* __restrict__ beta,
                                                   const T* __restrict__ running_mean,
                                                   const T* __restrict__ running_var,
                                                   T* __restrict__ y, BatchNormGeometry g, T eps) {
  CUDANET_GRID_STRIDE_LOOP(i, g.n * g.c * g.s) {
    const std::int64_t c = (i / g.s) % g.c;
    const T scale = gamma[c] / sqrt(running_var[c] + eps);
    y[i] = (x[i] - running_mean[c]) * scale + beta[c];
  }
}

template <typename T>
__global__ void batchnorm_backward_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                          const T* __restrict__ gamma,
                                          const T* __restrict__ save_mean,
                                          const T* __restrict__ save_inv_std, T* __restrict__ dx,
                                          T* __restrict__ dgamma, T* __restrict__ dbeta,
                                          BatchNormGeometry g) {
  __shared__ typename ChannelReduce::TempStorage tmp;
  __shared__ double shared_sum_dy;
  __shared__ double shared_sum_dy_xhat;
  const std::int64_t c = blockIdx.x;
  const double count = static_cast<double>(g.n * g.s);
  const double mean = static_cast<double>(save_mean[c]);
  const double inv_std = static_cast<double>(save_inv_std[c]);

  double sum_dy = 0, sum_dy_xhat = 0;
  for_channel(g, c, [&](std::int64_t i) {
    const double d = static_cast<double>(dy[i]);
    sum_dy += d;
    sum_dy_xhat += d * (static_cast<double>(x[i]) - mean) * inv_std;
  });
  sum_dy = ChannelReduce(tmp).Sum(sum_dy);
  __syncthreads();  // the storage is reused by the second reduction
  sum_dy_xhat = ChannelReduce(tmp).Sum(sum_dy_xhat);
  if (threadIdx.x == 0) {
    shared_sum_dy = sum_dy;
    shared_sum_dy_xhat = sum_dy_xhat;
    dbeta[c] = static_cast<T>(sum_dy);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
  }
  __syncthreads();
  const double k = static_cast<double>(gamma[c]) * inv_std / count;
  const double a = shared_sum_dy, b = shared_sum_dy_xhat;
  for_channel(g, c, [&](std::int64_t i) {
    const double xhat = (static_cast<double>(x[i]) - mean) * inv_std;
    dx[i] = static_cast<T>(k * (count * static_cast<double>(dy[i]) - a - xhat * b));
  });
}

}  // namespace

void batchnorm_forward_training(const void* x, const void* gamma, const void* beta, void* y,
                                void* running_mean, void* running_var, void* save_mean,
                                void* save_inv_std, const BatchNormGeometry& g, double eps,
                                double momentum, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    batchnorm_forward_training_kernel<T>
        <<<static_cast<unsigned>(g.c), kChannelThreads, 0, raw_stream(stream)>>>(
            static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta),
            static_cast<T*>(y), static_cast<T*>(running_mean), static_cast<T*>(running_var),
            static_cast<T*>(save_mean), static_cast<T*>(save_inv_std), g, eps, momentum);
    CUDANET_LAUNCH_CHECK();
  });
}

void batchnorm_forward_inference(const void* x, const void* gamma, const void* beta,
                                 const void* running_mean, const void* running_var, void* y,
                                 const BatchNormGeometry& g, double eps, DType dtype,
                                 const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    batchnorm_forward_inference_kernel<T>
        <<<blocks_for(g.n * g.c * g.s), kThreadsPerBlock, 0, raw_stream(stream)>>>(
            static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta),
            static_cast<const T*>(running_mean), static_cast<const T*>(running_var),
            static_cast<T*>(y), g, static_cast<T>(eps));
    CUDANET_LAUNCH_CHECK();
  });
}

void batchnorm_backward(const void* x, const void* dy, const void* gamma, const void* save_mean,
                        const void* save_inv_std, void* dx, void* dgamma, void* dbeta,
                        const BatchNormGeometry& g, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    batchnorm_backward_kernel<T>
        <<<static_cast<unsigned>(g.c), kChannelThreads, 0, raw_stream(stream)>>>(
            static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<const T*>(gamma),
            static_cast<const T*>(save_mean), static_cast<const T*>(save_inv_std),
            static_cast<T*>(dx), static_cast<T*>(dgamma), static_cast<T*>(dbeta), g);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
