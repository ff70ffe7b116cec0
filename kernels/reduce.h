// Reductions of float32 / float64 tensors:
//
//   sum_all(x), mean_all(x), max_all(x)  → 0-dim tensor of x's dtype
//   argmax_all(x)                        → 0-dim int64: the flat (row-major) index of the maximum
//   sum_dim0(x)    [N, C] → [C]          column sums
//   argmax_dim1(x) [N, C] → int64 [N]    per-row argmax (class predictions)
//
// Sums accumulate in double on both devices. max/argmax: NaN counts as larger than every number
// (it propagates, as in PyTorch); among equal maxima the smallest index wins. The sum of an empty
// tensor is 0; mean, max and argmax need at least one element.
//
// Note: the CUDA reductions are deterministic (no atomics): a grid of CUB block reductions whose
// size depends only on the element count, then one block over the partial results; the per-row and
// per-column reductions visit their elements in a fixed order. Two runs agree bitwise.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

Tensor sum_all(const Tensor& x);
Tensor mean_all(const Tensor& x);
Tensor max_all(const Tensor& x);
Tensor argmax_all(const Tensor& x);
Tensor sum_dim0(const Tensor& x);
Tensor argmax_dim1(const Tensor& x);

namespace cpu {
// *out = scale * sum(x).
template <typename T>
void sum_all(const T* x, std::int64_t n, double scale, T* out);
// Either output may be null.
template <typename T>
void argmax_all(const T* x, std::int64_t n, T* max_value, std::int64_t* index);
template <typename T>
void sum_dim0(const T* x, T* out, std::int64_t rows, std::int64_t cols);
template <typename T>
void argmax_dim1(const T* x, std::int64_t* out, std::int64_t rows, std::int64_t cols);
}  // namespace cpu

namespace cuda {
void sum_all(const void* x, std::int64_t n, double scale, void* out, DType dtype,
             const Stream& stream);
// Either output may be null.
void argmax_all(const void* x, std::int64_t n, void* max_value, std::int64_t* index, DType dtype,
                const Stream& stream);
void sum_dim0(const void* x, void* out, std::int64_t rows, std::int64_t cols, DType dtype,
              const Stream& stream);
void argmax_dim1(const void* x, std::int64_t* out, std::int64_t rows, std::int64_t cols,
                 DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
