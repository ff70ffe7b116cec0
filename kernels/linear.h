// Linear (fully connected) op and the bias add / bias gradient it uses.
//
//   forward:   y = x w^T + b        x [N, in], w [out, in] (PyTorch's layout), b [out], y [N, out]
//   backward:  dx = dy w            [N, in]
//              dw = dy^T x          [out, in]
//              db = sum_n dy[n, :]  [out]
//
// The products run through gemm() (kernels/gemm.h) with the chosen backend; the bias is added to
// each row of y after the product (bias_add_forward_kernel on CUDA).
//
// Note: the bias gradient is a per-column reduction without atomics: the rows are cut into chunks
// fixed by the shape, each chunk is summed in a fixed order, and the chunk sums are reduced the
// same way, so two runs give bitwise-identical results whatever kernels::deterministic() says.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/gemm.h"

namespace cudanet::kernels {

struct LinearGrads {
  Tensor dx;  // [N, in]
  Tensor dw;  // [out, in]
  Tensor db;  // [out]; undefined without a bias
};

// y = x w^T + b (b may be null). Throws ShapeError unless x is [N, in], w [out, in] and b [out];
// ValueError for non-float, non-contiguous, mixed-device or mixed-dtype tensors.
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                      GemmBackend backend = GemmBackend::kDefault);

// The gradients for dy = dL/dy [N, out].
LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool has_bias,
                            GemmBackend backend = GemmBackend::kDefault);

// The same into existing tensors, for layers that keep gradient buffers: dx (may be null) is
// overwritten; dw and db (either may be null) are overwritten, or added to when `accumulate`.
void linear_backward_into(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx,
                          Tensor* dw, Tensor* db, bool accumulate,
                          GemmBackend backend = GemmBackend::kDefault);

// y[n, j] += b[j] for y [N, C] and b [C], in place.
void bias_add(Tensor& y, const Tensor& b);
// db[j] = sum_n dy[n, j] (or db[j] += that sum when `accumulate`) for dy [N, C] and db [C].
void bias_grad(const Tensor& dy, Tensor& db, bool accumulate = false);
Tensor bias_grad(const Tensor& dy);

namespace cpu {  // the reference, instantiated for float and double
template <typename T>
void bias_add_forward(T* y, const T* b, std::int64_t rows, std::int64_t cols);
template <typename T>
void bias_grad(const T* dy, T* db, std::int64_t rows, std::int64_t cols, bool accumulate);
}  // namespace cpu

namespace cuda {  // kernels/cuda/linear.cu
void bias_add_forward(void* y, const void* b, std::int64_t rows, std::int64_t cols, DType dtype,
                      const Stream& stream);
void bias_grad(const void* dy, void* db, std::int64_t rows, std::int64_t cols, bool accumulate,
               DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
