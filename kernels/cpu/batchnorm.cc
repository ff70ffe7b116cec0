// Batch normalisation, CPU reference: one channel at a time, sums in double (two passes: the
// mean, then the squared deviations from it).
#include "kernels/batchnorm.h"

#include <cmath>
#include <cstdint>

namespace cudanet::kernels::cpu {

namespace {

// Calls f(index) for every element of channel c of x viewed as [N, C, S].
template <typename F>
void for_channel(const BatchNormGeometry& g, std::int64_t c, F&& f) {
  for (std::int64_t n = 0; n < g.n; ++n) {
    const std::int64_t base = (n * g.c + c) * g.s;
    for (std::int64_t s = 0; s < g.s; ++s) f(base + s);
  }
}

}  // namespace

template <typename T>
void batchnorm_forward_training(const T* x, const T* gamma, const T* beta, T* y, T* running_mean,
                                T* running_var, T* save_mean, T* save_inv_std,
                                const BatchNormGeometry& g, double eps, double momentum) {
  const double count = static_cast<double>(g.n * g.s);
  for (std::int64_t c = 0; c < g.c; ++c) {
    double sum = 0;
    for_channel(g, c, [&](std::int64_t i) { sum += static_cast<double>(x[i]); });
    const double mean = sum / count;
    double sq = 0;
    for_channel(g, c, [&](std::int64_t i) {
      const double d = static_cast<double>(x[i]) - mean;
      sq += d * d;
    });
    const double var = sq / count;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    const double scale = static_cast<double>(gamma[c]) * inv_std;
    const double shift = static_cast<double>(beta[c]);
    for_channel(g, c, [&](std::int64_t i) {
      y[i] = static_cast<T>((static_cast<double>(x[i]) - mean) * scale + shift);
    });
    save_mean[c] = static_cast<T>(mean);
    save_inv_std[c] = static_cast<T>(inv_std);
    if (running_mean != nullptr) {
      const double unbiased = sq / (count - 1);
      running_mean[c] =
          static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
      running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * unbiased);
    }
  }
}

template <typename T>
void batchnorm_forward_inference(const T* x, const T* gamma, const T* beta, const T* running_mean,
                                 const T* running_var, T* y, const BatchNormGeometry& g,
                                 double eps) {
  for (std::int64_t c = 0; c < g.c; ++c) {
    const double mean = static_cast<double>(running_mean[c]);
    const double scale =
        static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double shift = static_cast<double>(beta[c]);
    for_channel(g, c, [&](std::int64_t i) {
      y[i] = static_cast<T>((static_cast<double>(x[i]) - mean) * scale + shift);
    });
  }
}

template <typename T>
void batchnorm_backward(const T* x, const T* dy, const T* gamma, const T* save_mean,
                        const T* save_inv_std, T* dx, T* dgamma, T* dbeta,
                        const BatchNormGeometry& g) {
  const double count = static_cast<double>(g.n * g.s);
  for (std::int64_t c = 0; c < g.c; ++c) {
    const double mean = static_cast<double>(save_mean[c]);
    const double inv_std = static_cast<double>(save_inv_std[c]);
    double sum_dy = 0, sum_dy_xhat = 0;
    for_channel(g, c, [&](std::int64_t i) {
      const double d = static_cast<double>(dy[i]);
      sum_dy += d;
      sum_dy_xhat += d * (static_cast<double>(x[i]) - mean) * inv_std;
    });
    dbeta[c] = static_cast<T>(sum_dy);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    const double k = static_cast<double>(gamma[c]) * inv_std / count;
    for_channel(g, c, [&](std::int64_t i) {
      const double xhat = (static_cast<double>(x[i]) - mean) * inv_std;
      dx[i] =
          static_cast<T>(k * (count * static_cast<double>(dy[i]) - sum_dy - xhat * sum_dy_xhat));
    });
  }
}

#define CUDANET_INSTANTIATE(T)                                                                   \
  template void batchnorm_forward_training<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,  \
                                              const BatchNormGeometry&, double, double);         \
  template void batchnorm_forward_inference<T>(const T*, const T*, const T*, const T*, const T*, \
                                               T*, const BatchNormGeometry&, double);            \
  template void batchnorm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                      T*, const BatchNormGeometry&);
CUDANET_INSTANTIATE(float)
CUDANET_INSTANTIATE(double)
#undef CUDANET_INSTANTIATE

}  // namespace cudanet::kernels::cpu
