// conv2d: 2-D convolution (cross-correlation, as in PyTorch) over NCHW tensors with stride,
// padding, dilation and groups: forward, backward-data, backward-filter and the bias gradient.
//
//   x [N, C, H, W], w [K, C/groups, R, S], bias [K], y [N, K, P, Q] with
//   P = (H + 2 pad_h - dilation_h (R - 1) - 1) / stride_h + 1   (Q likewise)
//   y[n, k, p, q] = bias[k] + sum_{c, r, s} w[k, c, r, s] *
//                   x[n, g C/groups + c, p stride_h - pad_h + r dilation_h,
//                                        q stride_w - pad_w + s dilation_w]
// where g = k / (K/groups) and x outside [0, H) x [0, W) reads as zero.
//
// Algorithms on CUDA: kImplicitGemm (the default) runs the convolution as a GEMM whose operands
// are gathered from x, w and dy on the fly: the im2col matrix never exists in memory, the batch
// is folded into the GEMM's columns and the groups are a grid dimension. kIm2col writes the
// im2col matrix of a chunk of images to a workspace and multiplies it with a tiled GEMM: simple,
// and a second opinion. On the CPU both run im2col + BLAS over blocks of images
// (kernels/cpu/conv2d_gemm.cc); kReference runs the direct loops of the reference.
//
// Note: every gradient reduction (filter and bias) runs without atomics, in a fixed order, so two
// runs give bitwise-identical results whether or not kernels::deterministic() is on.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

// The algorithm: on a GPU, the hand-written implicit GEMM (default) or im2col + GEMM; on the CPU
// both mean the fast im2col + GEMM path (kernels/cpu/conv2d_gemm.cc), and kReference selects the
// direct loops of the reference (CPU only; the oracle of the tests).
enum class ConvAlgo { kImplicitGemm, kIm2col, kReference };
const char* conv_algo_name(ConvAlgo algo);  // "implicit_gemm", "im2col"

// Every size of one convolution, checked (see conv2d_geometry).
struct Conv2dGeometry {
  std::int64_t n = 0, c = 0, h = 0, w = 0;  // input x [n, c, h, w]
  std::int64_t k = 0, r = 0, s = 0;         // filter w [k, c / groups, r, s]
  std::int64_t p = 0, q = 0;                // output y [n, k, p, q]
  Conv2dParams params;

  std::int64_t groups() const { return params.groups; }
  std::int64_t c_per_group() const { return c / params.groups; }
  std::int64_t k_per_group() const { return k / params.groups; }
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {k, c / params.groups, r, s}; }
  Shape y_shape() const { return {n, k, p, q}; }
};

// Output extent of one spatial dimension (may be < 1 for a kernel larger than the padded input).
std::int64_t conv2d_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                std::int64_t pad, std::int64_t dilation);
// Checks the parameters and the shapes of x and w against each other and returns the geometry;
// throws ValueError (bad parameters) or ShapeError (shapes that do not fit) naming `op`.
Conv2dGeometry conv2d_geometry(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p,
                               const char* op);

// ---- Tensor level: validate, allocate the result on the inputs' device, dispatch ----
// y = conv(x, w) + bias (bias may be null).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                      ConvAlgo algo = ConvAlgo::kImplicitGemm);
// dx = dL/dx for dy = dL/dy; x_shape is the forward input's shape.
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p, ConvAlgo algo = ConvAlgo::kImplicitGemm);
// dw = dL/dw; w_shape is the filter's shape.
Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p, ConvAlgo algo = ConvAlgo::kImplicitGemm);
// db[k] = sum over n, p, q of dy[n, k, p, q].
Tensor conv2d_backward_bias(const Tensor& dy);

namespace cpu {
// The reference: direct loops over every (n, k, p, q, c, r, s), accumulated in double.
// Instantiated for float and double. Outputs are overwritten.
template <typename T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g);
template <typename T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dGeometry& g);
template <typename T>
void conv2d_backward_filter(const T* dy, const T* x, T* dw, const Conv2dGeometry& g);
template <typename T>
void conv2d_backward_bias(const T* dy, T* db, std::int64_t n, std::int64_t k, std::int64_t hw);

// The fast CPU path: im2col + GEMM per image and group, images spread over threads (the filter
// gradient's partial sums are added in a fixed order). Same contracts as the reference.
template <typename T>
void conv2d_forward_gemm(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g);
template <typename T>
void conv2d_backward_data_gemm(const T* dy, const T* w, T* dx, const Conv2dGeometry& g);
template <typename T>
void conv2d_backward_filter_gemm(const T* dy, const T* x, T* dw, const Conv2dGeometry& g);
}  // namespace cpu

namespace cuda {
// Raw launchers on device memory (float32 or float64), queued on `stream`; outputs are
// overwritten. `g` comes from conv2d_geometry and fits 32-bit per-image indices (the Tensor-level
// functions check both). `workspace` points to at least the matching *_workspace(g) elements of
// `dtype` on the same device (may be null when that is 0) and must stay allocated until the work
// is done, which a Tensor from the caching allocator, freed after the call on `stream`,
// guarantees.

// kernels/cuda/conv2d_implicit_gemm.cu
void conv2d_forward_implicit_gemm(const void* x, const void* w, const void* bias, void* y,
                                  const Conv2dGeometry& g, DType dtype, const Stream& stream);
// kernels/cuda/conv2d_backward.cu (db[k] = sum of dy[:, k], in a fixed order)
void conv2d_backward_data_implicit_gemm(const void* dy, const void* w, void* dx,
                                        const Conv2dGeometry& g, DType dtype, const Stream& stream);
void conv2d_backward_bias(const void* dy, void* db, std::int64_t n, std::int64_t k, std::int64_t hw,
                          DType dtype, const Stream& stream);
// kernels/cuda/conv2d_backward_filter.cu (split-K partial sums in the workspace)
std::int64_t conv2d_backward_filter_implicit_gemm_workspace(const Conv2dGeometry& g, DType dtype);
void conv2d_backward_filter_implicit_gemm(const void* dy, const void* x, void* dw, void* workspace,
                                          const Conv2dGeometry& g, DType dtype,
                                          const Stream& stream);
// kernels/cuda/conv2d_im2col.cu (the workspace holds the im2col matrix of a chunk of images)
std::int64_t conv2d_im2col_workspace(const Conv2dGeometry& g);
void conv2d_forward_im2col(const void* x, const void* w, const void* bias, void* y, void* workspace,
                           const Conv2dGeometry& g, DType dtype, const Stream& stream);
void conv2d_backward_data_im2col(const void* dy, const void* w, void* dx, void* workspace,
                                 const Conv2dGeometry& g, DType dtype, const Stream& stream);
void conv2d_backward_filter_im2col(const void* dy, const void* x, void* dw, void* workspace,
                                   const Conv2dGeometry& g, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
