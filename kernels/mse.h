// Mean-squared error between a prediction x and a target t of the same shape (any shape):
//
//   loss    = (1/n) * sum_i (x_i - t_i)^2                 (n = number of elements)
//   dx      = grad_scale * 2 * (x - t) / n
//
// Note: the CUDA forward is a deterministic two-pass reduction accumulating in double (a fixed
// grid of CUB block sums, then one block over the partial sums), so two runs agree bitwise.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

// Returns the loss as a 0-dim tensor of x's dtype on x's device.
Tensor mse_forward(const Tensor& x, const Tensor& target);
// The gradient of grad_scale * loss with respect to x.
Tensor mse_backward(const Tensor& x, const Tensor& target, double grad_scale = 1);

namespace cpu {
template <typename T>
void mse_forward(const T* x, const T* target, T* loss, std::int64_t n);
template <typename T>
void mse_backward(const T* x, const T* target, T* dx, std::int64_t n, double grad_scale);
}  // namespace cpu

namespace cuda {
void mse_forward(const void* x, const void* target, void* loss, std::int64_t n, DType dtype,
                 const Stream& stream);
void mse_backward(const void* x, const void* target, void* dx, std::int64_t n, double grad_scale,
                  DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
