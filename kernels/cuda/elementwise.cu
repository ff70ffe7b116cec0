// Element-wise arithmetic, CUDA: grid-stride loops in the tensors' dtype.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/elementwise.h"

namespace cudanet::kernels::cuda {

namespace {

// Products rounded on their own (never fused with a following add into an FMA), exactly as the CPU
// reference computes, so both devices give the same bits.
__device__ __forceinline__ float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ __forceinline__ double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}

struct AddOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct SubOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a - b;
  }
};
struct MulOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return mul_rn(a, b);
  }
};

template <typename T, typename Op>
__global__ void binary_forward_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                      T* __restrict__ out, std::int64_t n, Op op) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    out[i] = op(a[i], b[i]);
  }
}

// y = alpha * x + beta; y may alias x (so no __restrict__).
template <typename T>
__global__ void affine_forward_kernel(const T* x, T* y, std::int64_t n, T alpha, T beta) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    y[i] = mul_rn(alpha, x[i]) + beta;
  }
}

// y += alpha * x; x may alias y.
template <typename T>
__global__ void axpy_forward_kernel(T alpha, const T* x, T* y, std::int64_t n) {
  CUDANET_GRID_STRIDE_LOOP(i, n) {
    y[i] += mul_rn(alpha, x[i]);
  }
}

template <typename T, typename Op>
void launch_binary(const void* a, const void* b, void* out, std::int64_t n, Op op, cudaStream_t s) {
  binary_forward_kernel<T, Op><<<blocks_for(n), kThreadsPerBlock, 0, s>>>(
      static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), n, op);
  CUDANET_LAUNCH_CHECK();
}

}  // namespace

void binary(const void* a, const void* b, void* out, std::int64_t n, BinaryOp op, DType dtype,
            const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  const cudaStream_t s = raw_stream(stream);
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case BinaryOp::kAdd:
        launch_binary<T>(a, b, out, n, AddOp{}, s);
        break;
      case BinaryOp::kSub:
        launch_binary<T>(a, b, out, n, SubOp{}, s);
        break;
      case BinaryOp::kMul:
        launch_binary<T>(a, b, out, n, MulOp{}, s);
        break;
    }
  });
}

void affine(const void* x, void* y, std::int64_t n, double alpha, double beta, DType dtype,
            const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    affine_forward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<const T*>(x), static_cast<T*>(y), n, static_cast<T>(alpha),
        static_cast<T>(beta));
    CUDANET_LAUNCH_CHECK();
  });
}

void axpy(double alpha, const void* x, void* y, std::int64_t n, DType dtype, const Stream& stream) {
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    axpy_forward_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, raw_stream(stream)>>>(
        static_cast<T>(alpha), static_cast<const T*>(x), static_cast<T*>(y), n);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::kernels::cuda
