// Softmax, log-softmax and fused softmax-cross-entropy over the last dimension of [N, C] logits.
//
//   softmax:      y[n, c] = exp(x[n, c] - m[n]) / sum_k exp(x[n, k] - m[n]),  m[n] = max_k x[n, k]
//   log-softmax:  y[n, c] = x[n, c] - m[n] - log(sum_k exp(x[n, k] - m[n]))
//   backward (from the output y):
//     softmax:     dx = y * (dy - sum_k dy[n, k] * y[n, k])
//     log-softmax: dx = dy - exp(y) * sum_k dy[n, k]
//   cross-entropy over int64 labels in [0, C), mean over the batch:
//     loss = -(1/N) * sum_n log softmax(x)[n, label[n]]
//     dloss/dx = grad_scale * (softmax(x) - onehot(label)) / N
//
// Note: subtracting the row maximum keeps every exp() in [0, 1], so logits of +-1e4 give finite
// results. Labels are validated before anything is computed; labels on a GPU are copied to the
// host for that check (one small synchronous copy). The CUDA kernels give each row to one warp
// (C <= 512) or one block (larger C) and reduce with CUB; the mean over rows is a second, one-block
// kernel, so the loss is bitwise reproducible (no atomics).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

// x: [N, C] float32/float64 → y of the same shape.
Tensor softmax_forward(const Tensor& x);
Tensor log_softmax_forward(const Tensor& x);
// y: the forward's output; dy: the gradient of y → dx.
Tensor softmax_backward(const Tensor& y, const Tensor& dy);
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy);

// logits: [N, C]; labels: int64 [N] on the same device. Returns the mean loss as a 0-dim tensor
// of the logits' dtype; when probs_out is non-null it receives softmax(logits) ([N, C]).
Tensor softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     Tensor* probs_out = nullptr);
// The gradient of grad_scale * loss with respect to the logits: grad_scale * (p - onehot) / N.
// By default the first argument holds the probabilities p saved by the forward (probs_out); pass
// from_logits = true to hand the logits instead (the softmax is then recomputed).
Tensor softmax_cross_entropy_backward(const Tensor& logits_or_probs, const Tensor& labels,
                                      double grad_scale = 1, bool from_logits = false);

namespace cpu {
template <typename T>
void softmax_forward(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log);
template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t cols,
                      bool log);
// Writes the mean loss to *loss and, when probs is non-null, the softmax.
template <typename T>
void softmax_cross_entropy_forward(const T* logits, const std::int64_t* labels, T* probs, T* loss,
                                   std::int64_t rows, std::int64_t cols);
template <typename T>
void softmax_cross_entropy_backward(const T* probs, const std::int64_t* labels, T* dx,
                                    std::int64_t rows, std::int64_t cols, double grad_scale);
}  // namespace cpu

namespace cuda {
void softmax_forward(const void* x, void* y, std::int64_t rows, std::int64_t cols, bool log,
                     DType dtype, const Stream& stream);
void softmax_backward(const void* y, const void* dy, void* dx, std::int64_t rows, std::int64_t cols,
                      bool log, DType dtype, const Stream& stream);
// probs may be null; loss points to one device element.
void softmax_cross_entropy_forward(const void* logits, const std::int64_t* labels, void* probs,
                                   void* loss, std::int64_t rows, std::int64_t cols, DType dtype,
                                   const Stream& stream);
void softmax_cross_entropy_backward(const void* probs, const std::int64_t* labels, void* dx,
                                    std::int64_t rows, std::int64_t cols, double grad_scale,
                                    DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
