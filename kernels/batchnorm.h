// Batch normalisation per channel: x is [N, C, H, W] (statistics over N, H, W) or [N, C]
// (statistics over N); gamma, beta, running_mean, running_var are [C].
//
//   training:   mean_c = E[x],  var_c = E[(x - mean_c)^2]  (biased),  inv_std_c = 1/sqrt(var_c +
//   eps)
//               y = gamma_c * (x - mean_c) * inv_std_c + beta_c
//               running_mean = (1 - momentum) * running_mean + momentum * mean_c
//               running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)
//               (M = N*H*W values per channel; the running variance is unbiased, as in PyTorch)
//   inference:  y = gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c
//   backward (from the saved mean and inv_std; xhat = (x - mean) * inv_std):
//               dbeta_c  = sum dy
//               dgamma_c = sum dy * xhat
//               dx = gamma_c * inv_std_c / M * (M * dy - dbeta_c - xhat * dgamma_c)
//
// Note: the CUDA kernels give each channel to one block and reduce with CUB's BlockReduce in
// double: no atomics, so two runs agree bitwise. Training needs M > 1 (the unbiased variance).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct BatchNormParams {
  double eps = 1e-5;
  double momentum = 0.1;  // weight of the batch statistics in the running update
};

// Training forward. running_mean / running_var ([C]) are updated in place when non-null (both or
// neither). save_mean / save_inv_std, when non-null, receive the batch mean and 1/sqrt(var + eps)
// ([C]) for the backward.
Tensor batchnorm_forward_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor* running_mean, Tensor* running_var,
                                  const BatchNormParams& p, Tensor* save_mean,
                                  Tensor* save_inv_std);
// Inference forward from the running statistics.
Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   const BatchNormParams& p);

struct BatchNormGrads {
  Tensor dx;      // x's shape
  Tensor dgamma;  // [C]
  Tensor dbeta;   // [C]
};
// Backward of the training forward, from the saved mean and inv_std.
BatchNormGrads batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_inv_std);

// x viewed as [N, C, S] (S = H*W, or 1 for 2-D input).
struct BatchNormGeometry {
  std::int64_t n, c, s;
};

namespace cpu {
// running_mean / running_var may be null.
template <typename T>
void batchnorm_forward_training(const T* x, const T* gamma, const T* beta, T* y, T* running_mean,
                                T* running_var, T* save_mean, T* save_inv_std,
                                const BatchNormGeometry& g, double eps, double momentum);
template <typename T>
void batchnorm_forward_inference(const T* x, const T* gamma, const T* beta, const T* running_mean,
                                 const T* running_var, T* y, const BatchNormGeometry& g,
                                 double eps);
template <typename T>
void batchnorm_backward(const T* x, const T* dy, const T* gamma, const T* save_mean,
                        const T* save_inv_std, T* dx, T* dgamma, T* dbeta,
                        const BatchNormGeometry& g);
}  // namespace cpu

namespace cuda {
void batchnorm_forward_training(const void* x, const void* gamma, const void* beta, void* y,
                                void* running_mean, void* running_var, void* save_mean,
                                void* save_inv_std, const BatchNormGeometry& g, double eps,
                                double momentum, DType dtype, const Stream& stream);
void batchnorm_forward_inference(const void* x, const void* gamma, const void* beta,
                                 const void* running_mean, const void* running_var, void* y,
                                 const BatchNormGeometry& g, double eps, DType dtype,
                                 const Stream& stream);
void batchnorm_backward(const void* x, const void* dy, const void* gamma, const void* save_mean,
                        const void* save_inv_std, void* dx, void* dgamma, void* dbeta,
                        const BatchNormGeometry& g, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
