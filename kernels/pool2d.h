// Max and average pooling over the two spatial dimensions of an NCHW tensor.
//
// Output size (floor mode, PyTorch's ceil_mode=False): out = (in + 2 pad - kernel) / stride + 1,
// separately for h and w. The stride defaults to the kernel size (a stride of 0 in the params).
// Like PyTorch, the padding may be at most half the kernel (pad <= kernel / 2), so every window
// holds at least one element of the input.
//
// Max pooling: padding counts as -inf; ties go to the first maximum in window order (row-major);
// NaN propagates (a NaN in the window is the maximum). `argmax` records, per output element, the
// flat index ih * W + iw of the chosen element in its input plane (int64), or -1 for a window of
// padding only (impossible under the padding rule above, but the kernels handle it: the output is
// then -inf and the backward ignores it). The backward sends dy to the recorded element.
//
// The window-offset argmax (ArgmaxFormat::kWindowOffset, what the layers keep: one byte per output
// instead of eight) records instead the offset (ih - hs) * kernel_w + (iw - ws) of the chosen
// element inside its window, hs = oh * stride_h - pad_h and ws = ow * stride_w - pad_w, as uint8,
// or kNoArgmax for a window of padding only. It needs windows of at most kMaxWindowOffsetArgmax
// elements. The backward takes either format (told apart by the dtype: int64 or uint8).
//
// Average pooling: the sum of the window divided by kernel_h * kernel_w when count_include_pad
// is true (PyTorch's default: padded zeros count), else by the number of input elements inside
// the window.
//
// Note: determinism. The CUDA backward passes gather: each input element sums the dy of the
// output windows that cover it, in the same (oh, ow) order as the CPU reference scatters them,
// without atomics. So two runs agree bitwise, and the GPU agrees bitwise with the CPU reference.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"

#ifndef CUDANET_HOST_DEVICE  // as in core/philox.h
#if defined(__CUDACC__)
#define CUDANET_HOST_DEVICE __host__ __device__
#else
#define CUDANET_HOST_DEVICE
#endif
#endif

namespace cudanet::kernels {

struct Pool2dParams {
  std::int64_t kernel_h = 1;
  std::int64_t kernel_w = 1;
  std::int64_t stride_h = 0;  // 0: the kernel size
  std::int64_t stride_w = 0;
  std::int64_t pad_h = 0;
  std::int64_t pad_w = 0;
  bool count_include_pad = true;  // average pooling only

  // kernel x kernel windows; stride 0 means stride = kernel.
  static Pool2dParams square(std::int64_t kernel, std::int64_t stride = 0, std::int64_t pad = 0) {
    return {kernel, kernel, stride, stride, pad, pad, true};
  }
};

// The resolved sizes of one pooling: what the raw kernels see.
struct Pool2dGeometry {
  std::int64_t n, c, in_h, in_w, out_h, out_w;
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool count_include_pad;

  CUDANET_HOST_DEVICE std::int64_t planes() const { return n * c; }
  CUDANET_HOST_DEVICE std::int64_t in_plane() const { return in_h * in_w; }
  CUDANET_HOST_DEVICE std::int64_t out_plane() const { return out_h * out_w; }
};

// Validates `p` against an input of shape `x_shape` (4-D, NCHW) and resolves the geometry.
// Throws ShapeError / ValueError naming `op` and the offending values.
Pool2dGeometry pool2d_geometry(const Shape& x_shape, const Pool2dParams& p, const char* op);
// [N, C, out_h, out_w] for an input of shape `x_shape`.
Shape pool2d_output_shape(const Shape& x_shape, const Pool2dParams& p);

enum class ArgmaxFormat { kPlaneIndex, kWindowOffset };
constexpr std::int64_t kMaxWindowOffsetArgmax = 255;
constexpr std::uint8_t kNoArgmax = 255;  // a window offset naming no element

// ---- Tensor level: validate, allocate the result on the input's device, dispatch ----
// `argmax` (may be null) receives the argmax, shaped like the output: int64 plane indices, or
// uint8 window offsets (ValueError for windows over kMaxWindowOffsetArgmax elements).
Tensor max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor* argmax,
                          ArgmaxFormat format = ArgmaxFormat::kPlaneIndex);
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& argmax, const Shape& x_shape,
                           const Pool2dParams& p);
Tensor avg_pool2d_forward(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p);

namespace cpu {
// The reference, instantiated for float and double. The backward passes overwrite dx.
// A (the argmax format): std::int64_t (plane index) or std::uint8_t (window offset).
template <typename T, typename A>
void max_pool2d_forward(const T* x, T* y, A* argmax, const Pool2dGeometry& g);
// Throws ValueError for an argmax outside [-1, H * W), or a window offset naming no input element.
template <typename T>
void max_pool2d_backward(const T* dy, const std::int64_t* argmax, T* dx, const Pool2dGeometry& g);
template <typename T>
void max_pool2d_backward(const T* dy, const std::uint8_t* argmax, T* dx, const Pool2dGeometry& g);
template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dGeometry& g);
template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeometry& g);
}  // namespace cpu

namespace cuda {
// Device pointers on stream.device(); work queued on `stream`. dtype: float32 or float64.
// argmax may be null in the forward. The backward gathers, so it only sees an argmax entry that
// points into its own window (as every entry written by the forward does) and ignores others.
void max_pool2d_forward(const void* x, void* y, std::int64_t* argmax, const Pool2dGeometry& g,
                        DType dtype, const Stream& stream);
void max_pool2d_forward(const void* x, void* y, std::uint8_t* argmax, const Pool2dGeometry& g,
                        DType dtype, const Stream& stream);
void max_pool2d_backward(const void* dy, const std::int64_t* argmax, void* dx,
                         const Pool2dGeometry& g, DType dtype, const Stream& stream);
void max_pool2d_backward(const void* dy, const std::uint8_t* argmax, void* dx,
                         const Pool2dGeometry& g, DType dtype, const Stream& stream);
void avg_pool2d_forward(const void* x, void* y, const Pool2dGeometry& g, DType dtype,
                        const Stream& stream);
void avg_pool2d_backward(const void* dy, void* dx, const Pool2dGeometry& g, DType dtype,
                         const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
