// Mean-squared error, CPU reference (sums in double).
#include "kernels/mse.h"

#include <cstdint>

namespace cudanet::kernels::cpu {

template <typename T>
void mse_forward(const T* x, const T* target, T* loss, std::int64_t n) {
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(target[i]);
    total += d * d;
  }
  *loss = static_cast<T>(total / static_cast<double>(n));
}

template <typename T>
void mse_backward(const T* x, const T* target, T* dx, std::int64_t n, double grad_scale) {
  const double scale = 2.0 * grad_scale / static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i) {
    dx[i] = static_cast<T>(scale * (static_cast<double>(x[i]) - static_cast<double>(target[i])));
  }
}

template void mse_forward<float>(const float*, const float*, float*, std::int64_t);
template void mse_forward<double>(const double*, const double*, double*, std::int64_t);
template void mse_backward<float>(const float*, const float*, float*, std::int64_t, double);
template void mse_backward<double>(const double*, const double*, double*, std::int64_t, double);

}  // namespace cudanet::kernels::cpu
