// Pooling: argument checks and device dispatch (see kernels/pool2d.h).
#include "kernels/pool2d.h"

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

// Output length of one spatial dimension, validating its parameters.
std::int64_t pooled_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                         std::int64_t pad, const char* op, const char* dim) {
  CUDANET_CHECK(kernel > 0, ValueError, op, ": kernel_", dim, " must be > 0, got ", kernel);
  CUDANET_CHECK(stride > 0, ValueError, op, ": stride_", dim, " must be > 0 (or 0 for the kernel),",
                " got ", stride);
  CUDANET_CHECK(pad >= 0 && pad <= kernel / 2, ValueError, op, ": pad_", dim,
                " must be in [0, kernel_", dim, " / 2] = [0, ", kernel / 2, "], got ", pad);
  CUDANET_CHECK(in + 2 * pad >= kernel, ShapeError, op, ": input ", dim, " = ", in, " + 2 * pad ",
                pad, " is smaller than the kernel ", kernel);
  return (in + 2 * pad - kernel) / stride + 1;
}

void check_argmax(const Tensor& argmax, const Tensor& dy, const char* op) {
  CUDANET_CHECK(argmax.defined(), ValueError, op, ": argmax is undefined");
  CUDANET_CHECK(argmax.dtype() == DType::kInt64 || argmax.dtype() == DType::kUInt8, ValueError, op,
                ": argmax has dtype ", argmax.dtype(),
                "; int64 (plane indices) or uint8 (window offsets) is needed");
  CUDANET_CHECK(argmax.is_contiguous(), ValueError, op, ": argmax is not contiguous");
  CUDANET_CHECK(argmax.device() == dy.device(), ValueError, op, ": tensors on different devices (",
                dy.device(), " and ", argmax.device(), ")");
  check_shape(argmax, dy.shape(), op, "argmax");
}

}  // namespace

Pool2dGeometry pool2d_geometry(const Shape& x_shape, const Pool2dParams& p, const char* op) {
  CUDANET_CHECK(x_shape.size() == 4, ShapeError, op, ": input must be 4-D (N, C, H, W), got ",
                shape_str(x_shape));
  for (std::int64_t s : x_shape) {
    CUDANET_CHECK(s > 0, ShapeError, op, ": input shape ", shape_str(x_shape),
                  " has an empty dimension");
  }
  Pool2dGeometry g{};
  g.n = x_shape[0];
  g.c = x_shape[1];
  g.in_h = x_shape[2];
  g.in_w = x_shape[3];
  g.kernel_h = p.kernel_h;
  g.kernel_w = p.kernel_w;
  g.stride_h = p.stride_h == 0 ? p.kernel_h : p.stride_h;
  g.stride_w = p.stride_w == 0 ? p.kernel_w : p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.count_include_pad = p.count_include_pad;
  g.out_h = pooled_size(g.in_h, g.kernel_h, g.stride_h, g.pad_h, op, "h");
  g.out_w = pooled_size(g.in_w, g.kernel_w, g.stride_w, g.pad_w, op, "w");
  return g;
}

Shape pool2d_output_shape(const Shape& x_shape, const Pool2dParams& p) {
  const Pool2dGeometry g = pool2d_geometry(x_shape, p, "pool2d_output_shape");
  return {g.n, g.c, g.out_h, g.out_w};
}

namespace {
// Calls f(pointer) with argmax's data as std::int64_t* or std::uint8_t* (by its dtype), or with a
// null std::int64_t* when it is undefined.
template <typename F>
void with_argmax(const Tensor& argmax, F&& f) {
  if (!argmax.defined()) {
    f(static_cast<std::int64_t*>(nullptr));
  } else if (argmax.dtype() == DType::kUInt8) {
    f(static_cast<std::uint8_t*>(argmax.data_ptr()));
  } else {
    f(static_cast<std::int64_t*>(argmax.data_ptr()));
  }
}
}  // namespace

Tensor max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor* argmax,
                          ArgmaxFormat format) {
  constexpr const char* kOp = "max_pool2d_forward";
  check_float_input(x, kOp, "x");
  const Pool2dGeometry g = pool2d_geometry(x.shape(), p, kOp);
  const bool offsets = format == ArgmaxFormat::kWindowOffset;
  CUDANET_CHECK(!offsets || g.kernel_h * g.kernel_w <= kMaxWindowOffsetArgmax, ValueError, kOp,
                ": a window-offset argmax needs windows of at most ", kMaxWindowOffsetArgmax,
                " elements, got ", g.kernel_h, "x", g.kernel_w);
  const Shape out_shape{g.n, g.c, g.out_h, g.out_w};
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor idx;
  if (argmax != nullptr) {
    idx = Tensor::empty(out_shape, offsets ? DType::kUInt8 : DType::kInt64, x.device());
  }
  with_argmax(idx, [&](auto* idx_ptr) {
    if (x.device().is_cpu()) {
      dispatch_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cpu::max_pool2d_forward<T>(x.data<T>(), y.data<T>(), idx_ptr, g);
      });
    } else {
#if CUDANET_WITH_CUDA
      cuda::max_pool2d_forward(x.data_ptr(), y.data_ptr(), idx_ptr, g, x.dtype(),
                               current_stream(x.device()));
#else
      throw_no_cuda(kOp);
#endif
    }
  });
  if (argmax != nullptr) *argmax = idx;
  return y;
}

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& argmax, const Shape& x_shape,
                           const Pool2dParams& p) {
  constexpr const char* kOp = "max_pool2d_backward";
  check_float_input(dy, kOp, "dy");
  const Pool2dGeometry g = pool2d_geometry(x_shape, p, kOp);
  check_shape(dy, {g.n, g.c, g.out_h, g.out_w}, kOp, "dy");
  check_argmax(argmax, dy, kOp);
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  with_argmax(argmax, [&](auto* idx_ptr) {
    if (dy.device().is_cpu()) {
      dispatch_float(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cpu::max_pool2d_backward<T>(dy.data<T>(), idx_ptr, dx.data<T>(), g);
      });
    } else {
#if CUDANET_WITH_CUDA
      cuda::max_pool2d_backward(dy.data_ptr(), idx_ptr, dx.data_ptr(), g, dy.dtype(),
                                current_stream(dy.device()));
#else
      throw_no_cuda(kOp);
#endif
    }
  });
  return dx;
}

Tensor avg_pool2d_forward(const Tensor& x, const Pool2dParams& p) {
  constexpr const char* kOp = "avg_pool2d_forward";
  check_float_input(x, kOp, "x");
  const Pool2dGeometry g = pool2d_geometry(x.shape(), p, kOp);
  Tensor y = Tensor::empty({g.n, g.c, g.out_h, g.out_w}, x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), g);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::avg_pool2d_forward(x.data_ptr(), y.data_ptr(), g, x.dtype(), current_stream(x.device()));
#else
    throw_no_cuda(kOp);
#endif
  }
  return y;
}

Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p) {
  constexpr const char* kOp = "avg_pool2d_backward";
  check_float_input(dy, kOp, "dy");
  const Pool2dGeometry g = pool2d_geometry(x_shape, p, kOp);
  check_shape(dy, {g.n, g.c, g.out_h, g.out_w}, kOp, "dy");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    dispatch_float(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::avg_pool2d_backward<T>(dy.data<T>(), dx.data<T>(), g);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::avg_pool2d_backward(dy.data_ptr(), dx.data_ptr(), g, dy.dtype(),
                              current_stream(dy.device()));
#else
    throw_no_cuda(kOp);
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
