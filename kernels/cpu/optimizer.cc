// Fused optimizer updates, CPU reference: the formulas of kernels/optimizer.h, element by element,
// in the tensors' dtype.
#include "kernels/optimizer.h"

#include <cmath>
#include <cstdint>

namespace cudanet::kernels::cpu {

template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buf, std::int64_t n, const SgdParams& p) {
  const T lr = static_cast<T>(p.lr);
  const T momentum = static_cast<T>(p.momentum);
  const T weight_decay = static_cast<T>(p.weight_decay);
  const T l1 = static_cast<T>(p.l1);
  for (std::int64_t i = 0; i < n; ++i) {
    const T w = param[i];
    const T sign = w > T(0) ? T(1) : (w < T(0) ? T(-1) : T(0));
    T g = grad[i] + weight_decay * w + l1 * sign;
    if (p.momentum > 0) {
      const T buf = momentum * momentum_buf[i] + g;
      momentum_buf[i] = buf;
      g = p.nesterov ? g + momentum * buf : buf;
    }
    param[i] = w - lr * g;
  }
}

template <typename T>
void adam_update(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamCoefficients& c) {
  const T beta1 = static_cast<T>(c.beta1);
  const T beta2 = static_cast<T>(c.beta2);
  const T one_minus_beta1 = static_cast<T>(1 - c.beta1);
  const T one_minus_beta2 = static_cast<T>(1 - c.beta2);
  const T eps = static_cast<T>(c.eps);
  const T weight_decay = static_cast<T>(c.weight_decay);
  const T decay = static_cast<T>(c.decay);
  const T step_size = static_cast<T>(c.step_size);
  const T sqrt_bc2 = static_cast<T>(c.sqrt_bias_correction2);
  for (std::int64_t i = 0; i < n; ++i) {
    const T w = param[i] * decay;
    const T g = grad[i] + weight_decay * w;
    const T mi = beta1 * m[i] + one_minus_beta1 * g;
    const T vi = beta2 * v[i] + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = w - step_size * mi / (std::sqrt(vi) / sqrt_bc2 + eps);
  }
}

template void sgd_update<float>(float*, const float*, float*, std::int64_t, const SgdParams&);
template void sgd_update<double>(double*, const double*, double*, std::int64_t, const SgdParams&);
template void adam_update<float>(float*, const float*, float*, float*, std::int64_t,
                                 const AdamCoefficients&);
template void adam_update<double>(double*, const double*, double*, double*, std::int64_t,
                                  const AdamCoefficients&);

}  // namespace cudanet::kernels::cpu
