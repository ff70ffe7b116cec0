// Mean-squared error: argument checks and device dispatch.
#include "kernels/mse.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

void check_pair(const Tensor& x, const Tensor& target, const char* op) {
  check_float_input(x, op, "x");
  check_float_input(target, op, "target");
  check_shape(target, x.shape(), op, "target");
  check_same_device_dtype(x, {&target}, op);
  CUDANET_CHECK(x.numel() > 0, ValueError, op, ": x of shape ", shape_str(x.shape()),
                " has no elements (the mean is undefined)");
}

}  // namespace

Tensor mse_forward(const Tensor& x, const Tensor& target) {
  const char* op = "mse_forward";
  check_pair(x, target, op);
  Tensor loss = Tensor::empty({}, x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::mse_forward(x.data<T>(), target.data<T>(), loss.data<T>(), x.numel());
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::mse_forward(x.data_ptr(), target.data_ptr(), loss.data_ptr(), x.numel(), x.dtype(),
                      current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, op, ": CUDA tensors need a build with CUDA");
#endif
  }
  return loss;
}

Tensor mse_backward(const Tensor& x, const Tensor& target, double grad_scale) {
  const char* op = "mse_backward";
  check_pair(x, target, op);
  CUDANET_CHECK(std::isfinite(grad_scale), ValueError, op, ": grad_scale must be finite, got ",
                grad_scale);
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::mse_backward(x.data<T>(), target.data<T>(), dx.data<T>(), x.numel(), grad_scale);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::mse_backward(x.data_ptr(), target.data_ptr(), dx.data_ptr(), x.numel(), grad_scale,
                       x.dtype(), current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, op, ": CUDA tensors need a build with CUDA");
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
