// Local response normalisation: argument checks and device dispatch (see kernels/lrn.h).
#include "kernels/lrn.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

LrnGeometry lrn_geometry(const Shape& x_shape, const LrnParams& p, const char* op) {
  CUDANET_CHECK(x_shape.size() >= 3, ShapeError, op,
                ": input must have 3 or more dimensions (N, C, ...), got ", shape_str(x_shape));
  CUDANET_CHECK(p.size > 0, ValueError, op, ": size must be > 0, got ", p.size);
  CUDANET_CHECK(std::isfinite(p.alpha) && p.alpha >= 0, ValueError, op,
                ": alpha must be finite and >= 0, got ", p.alpha);
  CUDANET_CHECK(std::isfinite(p.beta), ValueError, op, ": beta must be finite, got ", p.beta);
  CUDANET_CHECK(std::isfinite(p.k) && p.k > 0, ValueError, op, ": k must be finite and > 0, got ",
                p.k);
  LrnGeometry g{};
  g.n = x_shape[0];
  g.c = x_shape[1];
  g.inner = 1;
  for (std::size_t d = 2; d < x_shape.size(); ++d) g.inner *= x_shape[d];
  g.size = p.size;
  g.alpha = p.alpha;
  g.beta = p.beta;
  g.k = p.k;
  return g;
}

Tensor lrn_forward(const Tensor& x, const LrnParams& p, Tensor* scale) {
  constexpr const char* kOp = "lrn_forward";
  check_float_input(x, kOp, "x");
  const LrnGeometry g = lrn_geometry(x.shape(), p, kOp);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor s;
  if (scale != nullptr) s = Tensor::empty(x.shape(), x.dtype(), x.device());
  void* s_ptr = scale != nullptr ? s.data_ptr() : nullptr;
  if (x.device().is_cpu()) {
    if (x.dtype() == DType::kFloat32) {
      cpu::lrn_forward<float>(x.data<float>(), y.data<float>(), static_cast<float*>(s_ptr), g);
    } else {
      cpu::lrn_forward<double>(x.data<double>(), y.data<double>(), static_cast<double*>(s_ptr), g);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::lrn_forward(x.data_ptr(), y.data_ptr(), s_ptr, g, x.dtype(), current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  if (scale != nullptr) *scale = s;
  return y;
}

Tensor lrn_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& scale,
                    const LrnParams& p) {
  constexpr const char* kOp = "lrn_backward";
  check_float_input(dy, kOp, "dy");
  check_float_input(x, kOp, "x");
  check_float_input(y, kOp, "y");
  const bool saved_scale = scale.defined();  // else recomputed from x
  if (saved_scale) {
    check_float_input(scale, kOp, "scale");
    check_same_device_dtype(dy, {&x, &y, &scale}, kOp);
  } else {
    check_same_device_dtype(dy, {&x, &y}, kOp);
  }
  const LrnGeometry g = lrn_geometry(x.shape(), p, kOp);
  check_shape(dy, x.shape(), kOp, "dy");
  check_shape(y, x.shape(), kOp, "y");
  if (saved_scale) check_shape(scale, x.shape(), kOp, "scale");
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    if (x.dtype() == DType::kFloat32) {
      cpu::lrn_backward<float>(dy.data<float>(), x.data<float>(), y.data<float>(),
                               saved_scale ? scale.data<float>() : nullptr, dx.data<float>(), g);
    } else {
      cpu::lrn_backward<double>(dy.data<double>(), x.data<double>(), y.data<double>(),
                                saved_scale ? scale.data<double>() : nullptr, dx.data<double>(), g);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::lrn_backward(dy.data_ptr(), x.data_ptr(), y.data_ptr(),
                       saved_scale ? scale.data_ptr() : nullptr, dx.data_ptr(), g, x.dtype(),
                       current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
