// Activations, CPU reference (see kernels/activation.h for the formulas and conventions).
// The element loops are split over the cores for large tensors (each element is independent).
#include "kernels/activation.h"

#include <cmath>

#include "core/parallel.h"

namespace cudanet::kernels::cpu {

namespace {

constexpr std::int64_t kGrain = 1 << 16;  // elements per chunk at least

template <typename T>
void forward_range(Activation kind, const T* x, T* y, std::int64_t begin, std::int64_t end,
                   T negative_slope) {
  for (std::int64_t i = begin; i < end; ++i) {
    const T v = x[i];
    switch (kind) {
      case Activation::kReLU:
        y[i] = v > T(0) || std::isnan(v) ? v : T(0);
        break;
      case Activation::kLeakyReLU:
        y[i] = v > T(0) ? v : negative_slope * v;
        break;
      case Activation::kSigmoid:
        y[i] = T(1) / (T(1) + std::exp(-v));
        break;
      case Activation::kTanh:
        y[i] = std::tanh(v);
        break;
    }
  }
}

template <typename T>
void backward_range(Activation kind, const T* dy, const T* x_or_y, T* dx, std::int64_t begin,
                    std::int64_t end, T negative_slope) {
  for (std::int64_t i = begin; i < end; ++i) {
    const T v = x_or_y[i];
    switch (kind) {
      case Activation::kReLU:
        dx[i] = v > T(0) ? dy[i] : T(0);
        break;
      case Activation::kLeakyReLU:
        dx[i] = v > T(0) ? dy[i] : negative_slope * dy[i];
        break;
      case Activation::kSigmoid:
        dx[i] = dy[i] * (v * (T(1) - v));
        break;
      case Activation::kTanh:
        dx[i] = dy[i] * (T(1) - v * v);
        break;
    }
  }
}

}  // namespace

template <typename T>
void activation_forward(Activation kind, const T* x, T* y, std::int64_t n, T negative_slope) {
  parallel_for(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    forward_range(kind, x, y, begin, end, negative_slope);
  });
}

template <typename T>
void activation_backward(Activation kind, const T* dy, const T* x_or_y, T* dx, std::int64_t n,
                         T negative_slope) {
  parallel_for(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    backward_range(kind, dy, x_or_y, dx, begin, end, negative_slope);
  });
}

template void activation_forward<float>(Activation, const float*, float*, std::int64_t, float);
template void activation_forward<double>(Activation, const double*, double*, std::int64_t, double);
template void activation_backward<float>(Activation, const float*, const float*, float*,
                                         std::int64_t, float);
template void activation_backward<double>(Activation, const double*, const double*, double*,
                                          std::int64_t, double);

}  // namespace cudanet::kernels::cpu
