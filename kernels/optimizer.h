// Fused optimizer updates: one pass over param, grad and the optimizer state, in place.
//
// SGD (PyTorch's torch.optim.SGD with dampening 0, plus an L1 penalty):
//   g   = grad + weight_decay * param + l1 * sign(param)      (sign(0) = 0)
//   if momentum > 0:
//     buf = momentum * buf + g                                (buf starts at zero: the first step
//                                                              gives buf = g, as in PyTorch)
//     g   = nesterov ? g + momentum * buf : buf
//   param = param - lr * g
//
// Adam / AdamW (PyTorch's torch.optim.Adam and AdamW, amsgrad off), step t = 1, 2, ...:
//   Adam  (decoupled = false): g = grad + weight_decay * param
//   AdamW (decoupled = true):  g = grad;  param = param * (1 - lr * weight_decay)
//   m     = beta1 * m + (1 - beta1) * g                      (PyTorch writes m.lerp_(g, 1 - beta1):
//                                                             the same value up to rounding)
//   v     = beta2 * v + (1 - beta2) * g * g
//   param = param - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   (m and v start at zero.)
//
// Note: the step-dependent scalars are computed in double on the host; the per-element arithmetic
// runs in the tensors' dtype. One kernel per update (sgd_update_kernel, adam_update_kernel), a
// grid-stride loop over the elements; no reductions, so results are deterministic.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct SgdParams {
  double lr = 0.01;
  double momentum = 0;
  bool nesterov = false;
  double weight_decay = 0;  // L2, added to the gradient
  double l1 = 0;            // L1, l1 * sign(param) added to the gradient
};

struct AdamParams {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool decoupled = false;  // true: AdamW
};

// momentum_buf (param's shape) is needed when p.momentum > 0 and ignored otherwise.
void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf, const SgdParams& p);
// m and v: param's shape; step: the 1-based number of this update.
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p,
                 std::int64_t step);

// The per-element coefficients of one Adam step (host-computed from AdamParams and step).
struct AdamCoefficients {
  double beta1, beta2, eps;
  double weight_decay;  // L2 coefficient added to the gradient (Adam), else 0
  double decay;         // param multiplier before the update: 1 - lr * weight_decay (AdamW), else 1
  double step_size;     // lr / (1 - beta1^t)
  double sqrt_bias_correction2;  // sqrt(1 - beta2^t)
};
AdamCoefficients adam_coefficients(const AdamParams& p, std::int64_t step);

namespace cpu {
// momentum_buf may be null when p.momentum == 0.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buf, std::int64_t n, const SgdParams& p);
template <typename T>
void adam_update(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamCoefficients& c);
}  // namespace cpu

namespace cuda {
void sgd_update(void* param, const void* grad, void* momentum_buf, std::int64_t n,
                const SgdParams& p, DType dtype, const Stream& stream);
void adam_update(void* param, const void* grad, void* m, void* v, std::int64_t n,
                 const AdamCoefficients& c, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
