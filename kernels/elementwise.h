// Element-wise arithmetic on tensors of the same shape (float32 or float64, contiguous):
//
//   add(a, b) = a + b      sub(a, b) = a - b      mul(a, b) = a * b
//   scale(x, alpha) = alpha * x                   add_scalar(x, value) = x + value
//   axpy(alpha, x, y):  y += alpha * x  (in place)
//   scale_(x, alpha):   x *= alpha      (in place)
//
// Note: the arithmetic is done in the tensors' dtype on both devices (the scalars are rounded to
// it first), so small-integer inputs give identical results on CPU and GPU.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

enum class BinaryOp : std::uint8_t { kAdd, kSub, kMul };

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op);
Tensor scale(const Tensor& x, double alpha);
Tensor add_scalar(const Tensor& x, double value);
void axpy(double alpha, const Tensor& x, Tensor& y);
void scale_(Tensor& x, double alpha);

namespace cpu {
template <typename T>
void binary(const T* a, const T* b, T* out, std::int64_t n, BinaryOp op);
// y = alpha * x + beta (y may alias x).
template <typename T>
void affine(const T* x, T* y, std::int64_t n, T alpha, T beta);
template <typename T>
void axpy(T alpha, const T* x, T* y, std::int64_t n);
}  // namespace cpu

namespace cuda {
void binary(const void* a, const void* b, void* out, std::int64_t n, BinaryOp op, DType dtype,
            const Stream& stream);
void affine(const void* x, void* y, std::int64_t n, double alpha, double beta, DType dtype,
            const Stream& stream);
void axpy(double alpha, const void* x, void* y, std::int64_t n, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
