// Activations, CPU reference (see kernels/activation.h for the formulas and conventions).
// The element loops are split over the cores for large tensors (each element is independent).
#include "kernels/activation.h"

#include <cmath>

#include "core/parallel.h"

namespace cudanet::kernels::cpu {

namespace {

constexpr std::int64_t kGrain = 1 << 16;  // elements per chunk at least

// The switch is outside the loops, so each loop is a plain select the compiler vectorises.
template <typename T>
void forward_range(Activation kind, const T* x, T* y, std::int64_t begin, std::int64_t end,
                   T negative_slope) {
  switch (kind) {
    case Activation::kReLU:  // NaN < 0 is false: NaN passes through
      for (std::int64_t i = begin; i < end; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      break;
    case Activation::kLeakyReLU:
      for (std::int64_t i = begin; i < end; ++i) y[i] = x[i] > T(0) ? x[i] : negative_slope * x[i];
      break;
    case Activation::kSigmoid:
      for (std::int64_t i = begin; i < end; ++i) y[i] = T(1) / (T(1) + std::exp(-x[i]));
      break;
    case Activation::kTanh:
      for (std::int64_t i = begin; i < end; ++i) y[i] = std::tanh(x[i]);
      break;
  }
}

template <typename T>
void backward_range(Activation kind, const T* dy, const T* v, T* dx, std::int64_t begin,
                    std::int64_t end, T negative_slope) {
  switch (kind) {
    case Activation::kReLU:  // dy is loaded unconditionally so the select vectorises
      for (std::int64_t i = begin; i < end; ++i) {
        const T d = dy[i];
        dx[i] = v[i] > T(0) ? d : T(0);
      }
      break;
    case Activation::kLeakyReLU:
      for (std::int64_t i = begin; i < end; ++i) {
        const T d = dy[i];
        dx[i] = v[i] > T(0) ? d : negative_slope * d;
      }
      break;
    case Activation::kSigmoid:  // from the output y
      for (std::int64_t i = begin; i < end; ++i) dx[i] = dy[i] * (v[i] * (T(1) - v[i]));
      break;
    case Activation::kTanh:  // from the output y
      for (std::int64_t i = begin; i < end; ++i) dx[i] = dy[i] * (T(1) - v[i] * v[i]);
      break;
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
