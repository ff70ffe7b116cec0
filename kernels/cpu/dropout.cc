// Dropout, CPU reference (see kernels/dropout.h for the mask contract).
#include "kernels/dropout.h"

#include "core/philox.h"

namespace cudanet::kernels::cpu {

template <typename T>
void dropout_forward(const T* x, T* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     T scale, std::uint64_t seed, std::uint64_t offset) {
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = bernoulli(seed, offset, i, keep_prob);
    if (mask != nullptr) mask[i] = keep ? 1 : 0;
    y[i] = keep ? x[i] * scale : T(0);
  }
}

template <typename T>
void dropout_backward(const T* dy, const std::uint8_t* mask, T* dx, std::int64_t n, T scale) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] = mask[i] != 0 ? dy[i] * scale : T(0);
}

// dx_i = keep_i ? dy_i * scale : 0 is the forward's formula applied to dy: the same draw, no mask.
template <typename T>
void dropout_backward(const T* dy, T* dx, std::int64_t n, double keep_prob, T scale,
                      std::uint64_t seed, std::uint64_t offset) {
  dropout_forward(dy, dx, static_cast<std::uint8_t*>(nullptr), n, keep_prob, scale, seed, offset);
}

template void dropout_forward<float>(const float*, float*, std::uint8_t*, std::int64_t, double,
                                     float, std::uint64_t, std::uint64_t);
template void dropout_forward<double>(const double*, double*, std::uint8_t*, std::int64_t, double,
                                      double, std::uint64_t, std::uint64_t);
template void dropout_backward<float>(const float*, const std::uint8_t*, float*, std::int64_t,
                                      float);
template void dropout_backward<double>(const double*, const std::uint8_t*, double*, std::int64_t,
                                       double);

template void dropout_backward<float>(const float*, float*, std::int64_t, double, float,
                                      std::uint64_t, std::uint64_t);
template void dropout_backward<double>(const double*, double*, std::int64_t, double, double,
                                       std::uint64_t, std::uint64_t);

}  // namespace cudanet::kernels::cpu
