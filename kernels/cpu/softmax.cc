// Softmax family, CPU reference: one row at a time, sums in double.
#include "kernels/softmax.h"

#include <cmath>
#include <cstdint>

namespace cudanet::kernels::cpu {

namespace {

// The row maximum and log(sum exp(x - max)) of one row.
template <typename T>
void row_stats(const T* x, std::int64_t cols, double* max, double* log_sum) {
  double m = static_cast<double>(x[0]);
  for (std::int64_t c = 1; c < cols; ++c) {
    const double v = static_cast<double>(x[c]);
    if (v > m || std::isnan(v)) m = v;
  }
  double s = 0;
  for (std::int64_t c = 0; c < cols; ++c) s += std::exp(static_cast<double>(x[c]) - m);
  *max = m;
  *log_sum = std::log(s);
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log) {
  for (std::int64_t n = 0; n < rows; ++n) {
    const T* xr = x + n * cols;
    T* yr = y + n * cols;
    double m = 0, log_sum = 0;
    row_stats(xr, cols, &m, &log_sum);
    for (std::int64_t c = 0; c < cols; ++c) {
      const double shifted = static_cast<double>(xr[c]) - m - log_sum;
      yr[c] = static_cast<T>(log ? shifted : std::exp(shifted));
    }
  }
}

template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols,
                      bool log) {
  for (std::int64_t n = 0; n < rows; ++n) {
    const T* yr = y + n * cols;
    const T* dyr = dy + n * cols;
    T* dxr = dx + n * cols;
    double dot = 0;  // softmax: sum dy * y; log-softmax: sum dy
    for (std::int64_t c = 0; c < cols; ++c) {
      dot += static_cast<double>(dyr[c]) * (log ? 1.0 : static_cast<double>(yr[c]));
    }
    for (std::int64_t c = 0; c < cols; ++c) {
      const double yv = static_cast<double>(yr[c]);
      const double dyv = static_cast<double>(dyr[c]);
      dxr[c] = static_cast<T>(log ? dyv - std::exp(yv) * dot : yv * (dyv - dot));
    }
  }
}

template <typename T>
void softmax_cross_entropy_forward(const T* logits, const std::int64_t* labels, T* probs, T* loss,
                                   std::int64_t rows, std::int64_t cols) {
  double total = 0;
  for (std::int64_t n = 0; n < rows; ++n) {
    const T* xr = logits + n * cols;
    double m = 0, log_sum = 0;
    row_stats(xr, cols, &m, &log_sum);
    total += m + log_sum - static_cast<double>(xr[labels[n]]);
    if (probs != nullptr) {
      for (std::int64_t c = 0; c < cols; ++c) {
        probs[n * cols + c] = static_cast<T>(std::exp(static_cast<double>(xr[c]) - m - log_sum));
      }
    }
  }
  *loss = static_cast<T>(total / static_cast<double>(rows));
}

template <typename T>
void softmax_cross_entropy_backward(const T* probs, const std::int64_t* labels, T* dx,
                                    std::int64_t rows, std::int64_t cols, double grad_scale) {
  const double scale = grad_scale / static_cast<double>(rows);
  for (std::int64_t n = 0; n < rows; ++n) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const double p = static_cast<double>(probs[n * cols + c]);
      dx[n * cols + c] = static_cast<T>(scale * (p - (c == labels[n] ? 1.0 : 0.0)));
    }
  }
}

#define CUDANET_INSTANTIATE(T)                                                                     \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, bool);                \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, bool);     \
  template void softmax_cross_entropy_forward<T>(const T*, const std::int64_t*, T*, T*,            \
                                                 std::int64_t, std::int64_t);                      \
  template void softmax_cross_entropy_backward<T>(const T*, const std::int64_t*, T*, std::int64_t, \
                                                  std::int64_t, double);
CUDANET_INSTANTIATE(float)
CUDANET_INSTANTIATE(double)
#undef CUDANET_INSTANTIATE

}  // namespace cudanet::kernels::cpu
