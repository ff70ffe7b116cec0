// Fused optimizer updates, CPU reference: the formulas of kernels/optimizer.h, element by element,
// in the tensors' dtype.
#include "kernels/optimizer.h"

#include <cmath>
#include <cstdint>

namespace cudanet::kernels::cpu {

// The loop body for one combination of the switches (known at compile time, so each loop is
// branch-free and vectorises; the sign as (w > 0) − (w < 0) for the same reason).
template <bool kMomentum, bool kNesterov, typename T>
void sgd_loop(T* __restrict param, const T* __restrict grad, T* __restrict momentum_buf,
              std::int64_t n, T lr, T momentum, T weight_decay, T l1) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T w = param[i];
    const T sign = static_cast<T>(static_cast<int>(w > T(0)) - static_cast<int>(w < T(0)));
    T g = grad[i] + weight_decay * w + l1 * sign;
    if constexpr (kMomentum) {
      const T buf = momentum * momentum_buf[i] + g;
      momentum_buf[i] = buf;
      g = kNesterov ? g + momentum * buf : buf;
    }
    param[i] = w - lr * g;
  }
}

template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buf, std::int64_t n, const SgdParams& p) {
  const T lr = static_cast<T>(p.lr);
  const T momentum = static_cast<T>(p.momentum);
  const T weight_decay = static_cast<T>(p.weight_decay);
  const T l1 = static_cast<T>(p.l1);
  if (p.momentum <= 0) {
    sgd_loop<false, false>(param, grad, momentum_buf, n, lr, momentum, weight_decay, l1);
  } else if (p.nesterov) {
    sgd_loop<true, true>(param, grad, momentum_buf, n, lr, momentum, weight_decay, l1);
  } else {
    sgd_loop<true, false>(param, grad, momentum_buf, n, lr, momentum, weight_decay, l1);
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
