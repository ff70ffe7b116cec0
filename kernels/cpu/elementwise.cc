// Element-wise arithmetic, CPU reference (in the tensors' dtype).
#include "kernels/elementwise.h"

#include <cstdint>

namespace cudanet::kernels::cpu {

template <typename T>
void binary(const T* a, const T* b, T* out, std::int64_t n, BinaryOp op) {
  for (std::int64_t i = 0; i < n; ++i) {
    switch (op) {
      case BinaryOp::kAdd:
        out[i] = a[i] + b[i];
        break;
      case BinaryOp::kSub:
        out[i] = a[i] - b[i];
        break;
      case BinaryOp::kMul:
        out[i] = a[i] * b[i];
        break;
    }
  }
}

template <typename T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta;
}

template <typename T>
void axpy(T alpha, const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

#define CUDANET_INSTANTIATE(T)                                             \
  template void binary<T>(const T*, const T*, T*, std::int64_t, BinaryOp); \
  template void affine<T>(const T*, T*, std::int64_t, T, T);               \
  template void axpy<T>(T, const T*, T*, std::int64_t);
CUDANET_INSTANTIATE(float)
CUDANET_INSTANTIATE(double)
#undef CUDANET_INSTANTIATE

}  // namespace cudanet::kernels::cpu
