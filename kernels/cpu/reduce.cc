// Reductions, CPU reference (sums in double).
#include "kernels/reduce.h"

#include <cmath>
#include <cstdint>

namespace cudanet::kernels::cpu {

namespace {

// True when v should replace the current best (NaN beats numbers; ties keep the earlier index).
template <typename T>
bool better(T v, T best) {
  if (std::isnan(best)) return false;
  return std::isnan(v) || v > best;
}

}  // namespace

template <typename T>
void sum_all(const T* x, std::int64_t n, double scale, T* out) {
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]);
  *out = static_cast<T>(total * scale);
}

template <typename T>
void argmax_all(const T* x, std::int64_t n, T* max_value, std::int64_t* index) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    if (better(x[i], x[best])) best = i;
  }
  if (max_value != nullptr) *max_value = x[best];
  if (index != nullptr) *index = best;
}

template <typename T>
void sum_dim0(const T* x, T* out, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t c = 0; c < cols; ++c) {
    double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) total += static_cast<double>(x[r * cols + c]);
    out[c] = static_cast<T>(total);
  }
}

template <typename T>
void argmax_dim1(const T* x, std::int64_t* out, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) argmax_all<T>(x + r * cols, cols, nullptr, out + r);
}

#define CUDANET_INSTANTIATE(T)                                            \
  template void sum_all<T>(const T*, std::int64_t, double, T*);           \
  template void argmax_all<T>(const T*, std::int64_t, T*, std::int64_t*); \
  template void sum_dim0<T>(const T*, T*, std::int64_t, std::int64_t);    \
  template void argmax_dim1<T>(const T*, std::int64_t*, std::int64_t, std::int64_t);
CUDANET_INSTANTIATE(float)
CUDANET_INSTANTIATE(double)
#undef CUDANET_INSTANTIATE

}  // namespace cudanet::kernels::cpu
