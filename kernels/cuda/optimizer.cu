// Fused optimizer updates, CUDA: one grid-stride kernel per update reading param, grad and state
// once and writing them once (the formulas are in kernels/optimizer.h).
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/optimizer.h"

namespace cudanet::kernels::cuda {

namespace {

template <typename T>
struct SgdScalars {
  T lr, momentum, weight_decay, l1;
};

template <typename T>
struct AdamScalars {
  T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, decay, step_size, sqrt_bc2;
};

// kMomentum / kNesterov are template flags so the plain-SGD kernel touches no buffer.
template <typename T, bool kMomentum, bool kNesterov>
__global__ void sgd_update_kernel(T* __restrict__ param, const T* __restrict__ grad,
                                  T* __restrict__ momentum_buf, std::int64_t n, SgdScalars<T> s) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    const T w = param[i];
    const T sign = w > T(0) ? T(1) : (w < T(0) ? T(-1) : T(0));
    T g = grad[i] + s.weight_decay * w + s.l1 * sign;
    if (kMomentum) {
      const T buf = s.momentum * momentum_buf[i] + g;
      momentum_buf[i] = buf;
      g = kNesterov ? g + s.momentum * buf : buf;
    }
    param[i] = w - s.lr * g;
  }
}

template <typename T>
__global__ void adam_update_kernel(T* __restrict__ param, const T* __restrict__ grad,
                                   T* __restrict__ m, T* __restrict__ v, std::int64_t n,
                                   AdamScalars<T> s) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    const T w = param[i] * s.decay;
    const T g = grad[i] + s.weight_decay * w;
    const T mi = s.beta1 * m[i] + s.one_minus_beta1 * g;
    const T vi = s.beta2 * v[i] + s.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = w - s.step_size * mi / (sqrt(vi) / s.sqrt_bc2 + s.eps);
  }
}

}  // namespace

void sgd_update(void* param, const void* grad, void* momentum_buf, std::int64_t n,
                const SgdParams& p, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const cudaStream_t st = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const SgdScalars<T> s{static_cast<T>(p.lr), static_cast<T>(p.momentum),
                          static_cast<T>(p.weight_decay), static_cast<T>(p.l1)};
    T* w = static_cast<T*>(param);
    const T* g = static_cast<const T*>(grad);
    T* buf = static_cast<T*>(momentum_buf);
    const unsigned blocks = blocks_for(n);
    if (p.momentum <= 0) {
      sgd_update_kernel<T, false, false><<<blocks, kThreadsPerBlock, 0, st>>>(w, g, buf, n, s);
      CUDANET_LAUNCH_CHECK();
    } else if (p.nesterov) {
      sgd_update_kernel<T, true, true><<<blocks, kThreadsPerBlock, 0, st>>>(w, g, buf, n, s);
      CUDANET_LAUNCH_CHECK();
    } else {
      sgd_update_kernel<T, true, false><<<blocks, kThreadsPerBlock, 0, st>>>(w, g, buf, n, s);
      CUDANET_LAUNCH_CHECK();
    }
  });
}

void adam_update(void* param, const void* grad, void* m, void* v, std::int64_t n,
                 const AdamCoefficients& c, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const AdamScalars<T> s{static_cast<T>(c.beta1),
                           static_cast<T>(c.beta2),
                           static_cast<T>(1 - c.beta1),
                           static_cast<T>(1 - c.beta2),
                           static_cast<T>(c.eps),
                           static_cast<T>(c.weight_decay),
                           static_cast<T>(c.decay),
                           static_cast<T>(c.step_size),
                           static_cast<T>(c.sqrt_bias_correction2)};
    adam_update_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(m), static_cast<T*>(v),
        n, s);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
