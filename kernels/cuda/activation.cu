// Activations, CUDA: grid-stride element-wise kernels with 16-byte vector access (4 floats or 2
// doubles per load) when the pointers allow it. One kernel per activation and pass, so Nsight
// shows relu_forward_kernel, sigmoid_backward_kernel, ...
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/cuda/launch.cuh"

namespace cudanet::kernels::cuda {

namespace {

// ---- element-wise loops -------------------------------------------------------------------------

template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

__device__ __forceinline__ bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// out[i] = f(a[i]) for i in [0, n): whole packs when all pointers are 16-byte aligned, then the
// rest element by element.
template <typename T, typename F>
__device__ __forceinline__ void map_unary(const T* __restrict__ a, T* __restrict__ out,
                                          std::int64_t n, const F& f) {
  constexpr int kV = Pack<T>::kSize;
  std::int64_t done = 0;
  if (aligned16(a) && aligned16(out)) {
    const std::int64_t packs = n / kV;
    CUDANET_GRID_STRIDE_LOOP(p, packs) {
      Pack<T> pa = reinterpret_cast<const Pack<T>*>(a)[p];
#pragma unroll
      for (int j = 0; j < kV; ++j) pa.v[j] = f(pa.v[j]);
      reinterpret_cast<Pack<T>*>(out)[p] = pa;
    }
    done = packs * kV;
  }
  CUDANET_GRID_STRIDE_LOOP(k, n - done) {
    out[done + k] = f(a[done + k]);
  }
}

// out[i] = f(a[i], b[i]) for i in [0, n), packed like map_unary.
template <typename T, typename F>
__device__ __forceinline__ void map_binary(const T* __restrict__ a, const T* __restrict__ b,
                                           T* __restrict__ out, std::int64_t n, const F& f) {
  constexpr int kV = Pack<T>::kSize;
  std::int64_t done = 0;
  if (aligned16(a) && aligned16(b) && aligned16(out)) {
    const std::int64_t packs = n / kV;
    CUDANET_GRID_STRIDE_LOOP(p, packs) {
      Pack<T> pa = reinterpret_cast<const Pack<T>*>(a)[p];
      const Pack<T> pb = reinterpret_cast<const Pack<T>*>(b)[p];
#pragma unroll
      for (int j = 0; j < kV; ++j) pa.v[j] = f(pa.v[j], pb.v[j]);
      reinterpret_cast<Pack<T>*>(out)[p] = pa;
    }
    done = packs * kV;
  }
  CUDANET_GRID_STRIDE_LOOP(k, n - done) {
    out[done + k] = f(a[done + k], b[done + k]);
  }
}

// a[i] = f(a[i]) in place: the same access pattern without __restrict__ (the input is the
// output), each element read and then written by one thread.
template <typename T, typename F>
__device__ __forceinline__ void map_inplace(T* a, std::int64_t n, const F& f) {
  constexpr int kV = Pack<T>::kSize;
  std::int64_t done = 0;
  if (aligned16(a)) {
    const std::int64_t packs = n / kV;
    CUDANET_GRID_STRIDE_LOOP(p, packs) {
      Pack<T> pa = reinterpret_cast<const Pack<T>*>(a)[p];
#pragma unroll
      for (int j = 0; j < kV; ++j) pa.v[j] = f(pa.v[j]);
      reinterpret_cast<Pack<T>*>(a)[p] = pa;
    }
    done = packs * kV;
  }
  CUDANET_GRID_STRIDE_LOOP(k, n - done) {
    a[done + k] = f(a[done + k]);
  }
}

// ---- the formulas (kernels/activation.h) --------------------------------------------------------

__device__ __forceinline__ float exp_of(float v) {
  return expf(v);
}
__device__ __forceinline__ double exp_of(double v) {
  return ::exp(v);
}
__device__ __forceinline__ float tanh_of(float v) {
  return tanhf(v);
}
__device__ __forceinline__ double tanh_of(double v) {
  return ::tanh(v);
}

template <typename T>
struct Relu {
  __device__ T operator()(T x) const { return x > T(0) || isnan(x) ? x : T(0); }
};
template <typename T>
struct LeakyRelu {
  T slope;
  __device__ T operator()(T x) const { return x > T(0) ? x : slope * x; }
};
template <typename T>
struct Sigmoid {
  __device__ T operator()(T x) const { return T(1) / (T(1) + exp_of(-x)); }
};
template <typename T>
struct Tanh {
  __device__ T operator()(T x) const { return tanh_of(x); }
};

template <typename T>
struct ReluGrad {  // (dy, x)
  __device__ T operator()(T dy, T x) const { return x > T(0) ? dy : T(0); }
};
template <typename T>
struct LeakyReluGrad {  // (dy, x)
  T slope;
  __device__ T operator()(T dy, T x) const { return x > T(0) ? dy : slope * dy; }
};
template <typename T>
struct SigmoidGrad {  // (dy, y)
  __device__ T operator()(T dy, T y) const { return dy * (y * (T(1) - y)); }
};
template <typename T>
struct TanhGrad {  // (dy, y)
  __device__ T operator()(T dy, T y) const { return dy * (T(1) - y * y); }
};

// ---- kernels ------------------------------------------------------------------------------------

template <typename T>
__global__ void relu_forward_kernel(const T* x, T* y, std::int64_t n) {
  map_unary(x, y, n, Relu<T>{});
}
template <typename T>
__global__ void leaky_relu_forward_kernel(const T* x, T* y, std::int64_t n, T slope) {
  map_unary(x, y, n, LeakyRelu<T>{slope});
}
template <typename T>
__global__ void sigmoid_forward_kernel(const T* x, T* y, std::int64_t n) {
  map_unary(x, y, n, Sigmoid<T>{});
}
template <typename T>
__global__ void tanh_forward_kernel(const T* x, T* y, std::int64_t n) {
  map_unary(x, y, n, Tanh<T>{});
}

template <typename T>
__global__ void relu_forward_inplace_kernel(T* x, std::int64_t n) {
  map_inplace(x, n, Relu<T>{});
}
template <typename T>
__global__ void leaky_relu_forward_inplace_kernel(T* x, std::int64_t n, T slope) {
  map_inplace(x, n, LeakyRelu<T>{slope});
}
template <typename T>
__global__ void sigmoid_forward_inplace_kernel(T* x, std::int64_t n) {
  map_inplace(x, n, Sigmoid<T>{});
}
template <typename T>
__global__ void tanh_forward_inplace_kernel(T* x, std::int64_t n) {
  map_inplace(x, n, Tanh<T>{});
}

template <typename T>
__global__ void relu_backward_kernel(const T* dy, const T* x, T* dx, std::int64_t n) {
  map_binary(dy, x, dx, n, ReluGrad<T>{});
}
template <typename T>
__global__ void leaky_relu_backward_kernel(const T* dy, const T* x, T* dx, std::int64_t n,
                                           T slope) {
  map_binary(dy, x, dx, n, LeakyReluGrad<T>{slope});
}
template <typename T>
__global__ void sigmoid_backward_kernel(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_binary(dy, y, dx, n, SigmoidGrad<T>{});
}
template <typename T>
__global__ void tanh_backward_kernel(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_binary(dy, y, dx, n, TanhGrad<T>{});
}

template <typename T>
void launch_forward(Activation kind, const T* x, T* y, std::int64_t n, T slope,
                    cudaStream_t stream) {
  const unsigned blocks = blocks_for((n + Pack<T>::kSize - 1) / Pack<T>::kSize);
  switch (kind) {
    case Activation::kReLU:
      relu_forward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, y, n);
      break;
    case Activation::kLeakyReLU:
      leaky_relu_forward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, y, n, slope);
      break;
    case Activation::kSigmoid:
      sigmoid_forward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, y, n);
      break;
    case Activation::kTanh:
      tanh_forward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, y, n);
      break;
  }
  CUDANET_LAUNCH_CHECK();
}

template <typename T>
void launch_forward_inplace(Activation kind, T* x, std::int64_t n, T slope, cudaStream_t stream) {
  const unsigned blocks = blocks_for((n + Pack<T>::kSize - 1) / Pack<T>::kSize);
  switch (kind) {
    case Activation::kReLU:
      relu_forward_inplace_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, n);
      break;
    case Activation::kLeakyReLU:
      leaky_relu_forward_inplace_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, n, slope);
      break;
    case Activation::kSigmoid:
      sigmoid_forward_inplace_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, n);
      break;
    case Activation::kTanh:
      tanh_forward_inplace_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(x, n);
      break;
  }
  CUDANET_LAUNCH_CHECK();
}

template <typename T>
void launch_backward(Activation kind, const T* dy, const T* saved, T* dx, std::int64_t n, T slope,
                     cudaStream_t stream) {
  const unsigned blocks = blocks_for((n + Pack<T>::kSize - 1) / Pack<T>::kSize);
  switch (kind) {
    case Activation::kReLU:
      relu_backward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(dy, saved, dx, n);
      break;
    case Activation::kLeakyReLU:
      leaky_relu_backward_kernel<T>
          <<<blocks, kThreadsPerBlock, 0, stream>>>(dy, saved, dx, n, slope);
      break;
    case Activation::kSigmoid:
      sigmoid_backward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(dy, saved, dx, n);
      break;
    case Activation::kTanh:
      tanh_backward_kernel<T><<<blocks, kThreadsPerBlock, 0, stream>>>(dy, saved, dx, n);
      break;
  }
  CUDANET_LAUNCH_CHECK();
}

}  // namespace

void activation_forward(Activation kind, const void* x, void* y, std::int64_t n,
                        double negative_slope, DType dtype, const Stream& stream) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat64) {
    launch_forward<double>(kind, static_cast<const double*>(x), static_cast<double*>(y), n,
                           negative_slope, raw_stream(stream));
  } else {
    launch_forward<float>(kind, static_cast<const float*>(x), static_cast<float*>(y), n,
                          static_cast<float>(negative_slope), raw_stream(stream));
  }
}

void activation_forward_inplace(Activation kind, void* x, std::int64_t n, double negative_slope,
                                DType dtype, const Stream& stream) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat64) {
    launch_forward_inplace<double>(kind, static_cast<double*>(x), n, negative_slope,
                                   raw_stream(stream));
  } else {
    launch_forward_inplace<float>(kind, static_cast<float*>(x), n,
                                  static_cast<float>(negative_slope), raw_stream(stream));
  }
}

void activation_backward(Activation kind, const void* dy, const void* x_or_y, void* dx,
                         std::int64_t n, double negative_slope, DType dtype, const Stream& stream) {
  if (n == 0) return;
  ::cudanet::cuda::DeviceGuard guard(stream.device().index());
  if (dtype == DType::kFloat64) {
    launch_backward<double>(kind, static_cast<const double*>(dy),
                            static_cast<const double*>(x_or_y), static_cast<double*>(dx), n,
                            negative_slope, raw_stream(stream));
  } else {
    launch_backward<float>(kind, static_cast<const float*>(dy), static_cast<const float*>(x_or_y),
                           static_cast<float*>(dx), n, static_cast<float>(negative_slope),
                           raw_stream(stream));
  }
}

}  // namespace cudanet::kernels::cuda
