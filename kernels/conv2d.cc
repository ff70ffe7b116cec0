// conv2d: argument checks and dispatch on the tensors' device (see kernels/conv2d.h).
#include "kernels/conv2d.h"

#include <limits>
#include <type_traits>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

constexpr const char* kForward = "conv2d_forward";
constexpr const char* kBackwardData = "conv2d_backward_data";
constexpr const char* kBackwardFilter = "conv2d_backward_filter";
constexpr const char* kBackwardBias = "conv2d_backward_bias";

void check_params(const Conv2dParams& p, const char* op) {
  CUDANET_CHECK(p.stride_h > 0 && p.stride_w > 0, ValueError, op, ": stride must be > 0, got (",
                p.stride_h, ", ", p.stride_w, ")");
  CUDANET_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError, op, ": padding must be >= 0, got (",
                p.pad_h, ", ", p.pad_w, ")");
  CUDANET_CHECK(p.dilation_h > 0 && p.dilation_w > 0, ValueError, op,
                ": dilation must be > 0, got (", p.dilation_h, ", ", p.dilation_w, ")");
  CUDANET_CHECK(p.groups > 0, ValueError, op, ": groups must be > 0, got ", p.groups);
}

void check_algo(ConvAlgo algo, const char* op) {
  CUDANET_CHECK(
      algo == ConvAlgo::kImplicitGemm || algo == ConvAlgo::kIm2col || algo == ConvAlgo::kReference,
      ValueError, op, ": unknown algorithm ", static_cast<int>(algo));
}

void check_4d_shape(const Shape& s, const char* op, const char* name) {
  CUDANET_CHECK(s.size() == 4, ShapeError, op, ": ", name, " must have 4 dimensions, got shape ",
                shape_str(s));
  for (std::int64_t d : s) {
    CUDANET_CHECK(d > 0, ShapeError, op, ": ", name, " needs positive sizes, got shape ",
                  shape_str(s));
  }
}

#if CUDANET_WITH_CUDA
// The CUDA kernels index within a group and within an image with 32-bit integers.
void check_cuda_limits(const Conv2dGeometry& g, const char* op) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  const Conv2dParams& p = g.params;
  const std::int64_t crs = g.c_per_group() * g.r * g.s, krs = g.k_per_group() * g.r * g.s;
  const bool fits = crs <= kMax && krs <= kMax && g.h * g.w <= kMax && g.p * g.q <= kMax &&
                    g.n * g.p * g.q <= kMax && g.n * g.h * g.w <= kMax && g.c <= kMax &&
                    g.k <= kMax && g.h + 2 * p.pad_h <= kMax / 2 && g.w + 2 * p.pad_w <= kMax / 2 &&
                    p.dilation_h * g.r <= kMax / 2 && p.dilation_w * g.s <= kMax / 2 &&
                    p.stride_h <= kMax && p.stride_w <= kMax;
  CUDANET_CHECK(fits, ValueError, op, ": convolution of x ", shape_str(g.x_shape()), ", w ",
                shape_str(g.w_shape()), " is too large for the CUDA kernels (32-bit indices)");
}

Tensor workspace(std::int64_t elements, const Tensor& like) {
  return elements > 0 ? Tensor::empty({elements}, like.dtype(), like.device()) : Tensor();
}

#endif
}  // namespace

const char* conv_algo_name(ConvAlgo algo) {
  switch (algo) {
    case ConvAlgo::kImplicitGemm:
      return "implicit_gemm";
    case ConvAlgo::kIm2col:
      return "im2col";
    case ConvAlgo::kReference:
      return "reference";
  }
  return "unknown";
}

std::int64_t conv2d_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                std::int64_t pad, std::int64_t dilation) {
  const std::int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

Conv2dGeometry conv2d_geometry(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p,
                               const char* op) {
  check_params(p, op);
  check_4d_shape(x_shape, op, "x");
  check_4d_shape(w_shape, op, "w");
  Conv2dGeometry g;
  g.params = p;
  g.n = x_shape[0], g.c = x_shape[1], g.h = x_shape[2], g.w = x_shape[3];
  g.k = w_shape[0], g.r = w_shape[2], g.s = w_shape[3];
  CUDANET_CHECK(g.c % p.groups == 0, ShapeError, op, ": input channels ", g.c,
                " are not divisible by groups ", p.groups);
  CUDANET_CHECK(g.k % p.groups == 0, ShapeError, op, ": output channels ", g.k,
                " are not divisible by groups ", p.groups);
  CUDANET_CHECK(w_shape[1] == g.c / p.groups, ShapeError, op, ": w ", shape_str(w_shape),
                " must have C/groups = ", g.c / p.groups, " input channels for x ",
                shape_str(x_shape), " and groups ", p.groups);
  g.p = conv2d_output_size(g.h, g.r, p.stride_h, p.pad_h, p.dilation_h);
  g.q = conv2d_output_size(g.w, g.s, p.stride_w, p.pad_w, p.dilation_w);
  CUDANET_CHECK(g.p >= 1 && g.q >= 1, ShapeError, op, ": kernel ", g.r, "x", g.s, " (dilation ",
                p.dilation_h, ", ", p.dilation_w, ") does not fit x ", shape_str(x_shape),
                " padded by (", p.pad_h, ", ", p.pad_w, ")");
  return g;
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                      ConvAlgo algo) {
  check_algo(algo, kForward);
  check_float_input(x, kForward, "x");
  check_float_input(w, kForward, "w");
  check_same_device_dtype(x, {&w, bias}, kForward);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w.shape(), p, kForward);
  if (bias != nullptr) {
    check_float_input(*bias, kForward, "bias");
    check_shape(*bias, {g.k}, kForward, "bias");
  }
  Tensor y = Tensor::empty(g.y_shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const T* b = bias ? bias->data<T>() : nullptr;
        if (algo == ConvAlgo::kReference) {
          cpu::conv2d_forward<T>(x.data<T>(), w.data<T>(), b, y.data<T>(), g);
        } else {
          cpu::conv2d_forward_gemm<T>(x.data<T>(), w.data<T>(), b, y.data<T>(), g);
        }
      }
    });
    return y;
  }
#if CUDANET_WITH_CUDA
  check_cuda_limits(g, kForward);
  CUDANET_CHECK(algo != ConvAlgo::kReference, ValueError, kForward,
                ": the reference algorithm runs on the CPU only");
  const Stream stream = current_stream(x.device());
  const void* b = bias ? bias->data_ptr() : nullptr;
  if (algo == ConvAlgo::kIm2col) {
    Tensor ws = workspace(cuda::conv2d_im2col_workspace(g), x);
    cuda::conv2d_forward_im2col(x.data_ptr(), w.data_ptr(), b, y.data_ptr(),
                                ws.defined() ? ws.data_ptr() : nullptr, g, x.dtype(), stream);
  } else {
    cuda::conv2d_forward_implicit_gemm(x.data_ptr(), w.data_ptr(), b, y.data_ptr(), g, x.dtype(),
                                       stream);
  }
  return y;
#else
  throw_no_cuda(kForward);
#endif
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p, ConvAlgo algo) {
  check_algo(algo, kBackwardData);
  check_float_input(dy, kBackwardData, "dy");
  check_float_input(w, kBackwardData, "w");
  check_same_device_dtype(dy, {&w}, kBackwardData);
  const Conv2dGeometry g = conv2d_geometry(x_shape, w.shape(), p, kBackwardData);
  check_shape(dy, g.y_shape(), kBackwardData, "dy");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    dispatch_dtype(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        if (algo == ConvAlgo::kReference) {
          cpu::conv2d_backward_data<T>(dy.data<T>(), w.data<T>(), dx.data<T>(), g);
        } else {
          cpu::conv2d_backward_data_gemm<T>(dy.data<T>(), w.data<T>(), dx.data<T>(), g);
        }
      }
    });
    return dx;
  }
#if CUDANET_WITH_CUDA
  check_cuda_limits(g, kBackwardData);
  CUDANET_CHECK(algo != ConvAlgo::kReference, ValueError, kBackwardData,
                ": the reference algorithm runs on the CPU only");
  const Stream stream = current_stream(dy.device());
  if (algo == ConvAlgo::kIm2col) {
    Tensor ws = workspace(cuda::conv2d_im2col_workspace(g), dy);
    cuda::conv2d_backward_data_im2col(dy.data_ptr(), w.data_ptr(), dx.data_ptr(),
                                      ws.defined() ? ws.data_ptr() : nullptr, g, dy.dtype(),
                                      stream);
  } else {
    cuda::conv2d_backward_data_implicit_gemm(dy.data_ptr(), w.data_ptr(), dx.data_ptr(), g,
                                             dy.dtype(), stream);
  }
  return dx;
#else
  throw_no_cuda(kBackwardData);
#endif
}

Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p, ConvAlgo algo) {
  check_algo(algo, kBackwardFilter);
  check_float_input(dy, kBackwardFilter, "dy");
  check_float_input(x, kBackwardFilter, "x");
  check_same_device_dtype(dy, {&x}, kBackwardFilter);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w_shape, p, kBackwardFilter);
  check_shape(dy, g.y_shape(), kBackwardFilter, "dy");
  Tensor dw = Tensor::empty(w_shape, dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    dispatch_dtype(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        if (algo == ConvAlgo::kReference) {
          cpu::conv2d_backward_filter<T>(dy.data<T>(), x.data<T>(), dw.data<T>(), g);
        } else {
          cpu::conv2d_backward_filter_gemm<T>(dy.data<T>(), x.data<T>(), dw.data<T>(), g);
        }
      }
    });
    return dw;
  }
#if CUDANET_WITH_CUDA
  check_cuda_limits(g, kBackwardFilter);
  CUDANET_CHECK(algo != ConvAlgo::kReference, ValueError, kBackwardFilter,
                ": the reference algorithm runs on the CPU only");
  const Stream stream = current_stream(dy.device());
  if (algo == ConvAlgo::kIm2col) {
    Tensor ws = workspace(cuda::conv2d_im2col_workspace(g), dy);
    cuda::conv2d_backward_filter_im2col(dy.data_ptr(), x.data_ptr(), dw.data_ptr(),
                                        ws.defined() ? ws.data_ptr() : nullptr, g, dy.dtype(),
                                        stream);
  } else {
    Tensor ws = workspace(cuda::conv2d_backward_filter_implicit_gemm_workspace(g, dy.dtype()), dy);
    cuda::conv2d_backward_filter_implicit_gemm(dy.data_ptr(), x.data_ptr(), dw.data_ptr(),
                                               ws.defined() ? ws.data_ptr() : nullptr, g,
                                               dy.dtype(), stream);
  }
  return dw;
#else
  throw_no_cuda(kBackwardFilter);
#endif
}

Tensor conv2d_backward_bias(const Tensor& dy) {
  check_float_input(dy, kBackwardBias, "dy");
  check_4d_shape(dy.shape(), kBackwardBias, "dy");
  const std::int64_t n = dy.size(0), k = dy.size(1), hw = dy.size(2) * dy.size(3);
  Tensor db = Tensor::empty({k}, dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    dispatch_dtype(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        cpu::conv2d_backward_bias<T>(dy.data<T>(), db.data<T>(), n, k, hw);
      }
    });
    return db;
  }
#if CUDANET_WITH_CUDA
  cuda::conv2d_backward_bias(dy.data_ptr(), db.data_ptr(), n, k, hw, dy.dtype(),
                             current_stream(dy.device()));
  return db;
#else
  throw_no_cuda(kBackwardBias);
#endif
}

}  // namespace cudanet::kernels
