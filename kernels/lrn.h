// Local response normalisation across channels (AlexNet's), with PyTorch's LocalResponseNorm
// semantics. For an input a of shape [N, C, *] (3 or more dimensions; the trailing ones are
// "spatial") and each position:
//
//   scale_c = k + alpha / n * sum_{c' = c - n/2}^{c + (n-1)/2} a_{c'}^2   (c' clipped to [0, C))
//   b_c     = a_c * scale_c^(-beta)
//
// with integer division (PyTorch pads the channels with n/2 zeros before and (n-1)/2 after and
// averages n squares; the divisor is always n, also at the edges). Defaults n = 5, alpha = 1e-4,
// beta = 0.75, k = 1.
//
// Backward (exact): with L = sum dy * b,
//   dx_j = dy_j * scale_j^(-beta)
//          - (2 alpha beta / n) * a_j * sum_{c = j - (n-1)/2}^{j + n/2} dy_c * b_c / scale_c
// (c clipped to [0, C)): channel j lies in the window of exactly those channels c.
//
// Note: lrn_backward takes the forward's input x, output y and scale (lrn_forward returns the
// scale through its optional out-parameter). The scale may also be left undefined: the backward
// then recomputes it from x with the forward's own code (the same sums in the same order), so dx
// is bit for bit the same, and a layer need not keep a tensor the size of its input for it
// (docs/memory.md).
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct LrnParams {
  std::int64_t size = 5;  // n: channels in the window, >= 1
  double alpha = 1e-4;    // >= 0
  double beta = 0.75;     // finite
  double k = 1.0;         // > 0
};

// The resolved sizes: the input as [n, c, inner].
struct LrnGeometry {
  std::int64_t n, c, inner;
  std::int64_t size;
  double alpha, beta, k;
};

// Validates `p` and an input shape; throws ShapeError / ValueError naming `op`.
LrnGeometry lrn_geometry(const Shape& x_shape, const LrnParams& p, const char* op);

// ---- Tensor level ----
// `scale` (may be null) receives the scale tensor (same shape as x) for the backward.
Tensor lrn_forward(const Tensor& x, const LrnParams& p, Tensor* scale);
Tensor lrn_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& scale,
                    const LrnParams& p);

namespace cpu {
// The reference, instantiated for float and double. `scale` may be null in the forward.
template <typename T>
void lrn_forward(const T* x, T* y, T* scale, const LrnGeometry& g);
// `scale` may be null in the backward too (recomputed from x).
template <typename T>
void lrn_backward(const T* dy, const T* x, const T* y, const T* scale, T* dx, const LrnGeometry& g);
}  // namespace cpu

namespace cuda {
// Device pointers on stream.device(); work queued on `stream`. `scale` may be null in the forward
// and in the backward (recomputed from x).
void lrn_forward(const void* x, void* y, void* scale, const LrnGeometry& g, DType dtype,
                 const Stream& stream);
void lrn_backward(const void* dy, const void* x, const void* y, const void* scale, void* dx,
                  const LrnGeometry& g, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
