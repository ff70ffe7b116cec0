// Element-wise arithmetic: argument checks and device dispatch.
#include "kernels/elementwise.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

void check_finite(double v, const char* op, const char* name) {
  CUDANET_CHECK(std::isfinite(v), ValueError, op, ": ", name, " must be finite, got ", v);
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSub:
      return "sub";
    case BinaryOp::kMul:
      return "mul";
  }
  return "binary";
}

// out = alpha * x + beta into a new tensor, or in place when `in_place`.
Tensor affine(const Tensor& x, double alpha, double beta, Tensor* in_place, const char* op) {
  check_float_input(x, op, "x");
  check_finite(alpha, op, "alpha");
  check_finite(beta, op, "value");
  Tensor y = in_place != nullptr ? *in_place : Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return y;
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::affine(x.data<T>(), y.data<T>(), x.numel(), static_cast<T>(alpha), static_cast<T>(beta));
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::affine(x.data_ptr(), y.data_ptr(), x.numel(), alpha, beta, x.dtype(),
                 current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return y;
}

}  // namespace

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  const char* name = binary_name(op);
  check_float_input(a, name, "a");
  check_float_input(b, name, "b");
  check_shape(b, a.shape(), name, "b");
  check_same_device_dtype(a, {&b}, name);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.numel() == 0) return out;
  if (a.device().is_cpu()) {
    dispatch_float(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::binary(a.data<T>(), b.data<T>(), out.data<T>(), a.numel(), op);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::binary(a.data_ptr(), b.data_ptr(), out.data_ptr(), a.numel(), op, a.dtype(),
                 current_stream(a.device()));
#else
    throw_no_cuda(name);
#endif
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::kAdd);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::kSub);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::kMul);
}

Tensor scale(const Tensor& x, double alpha) {
  return affine(x, alpha, 0.0, nullptr, "scale");
}
Tensor add_scalar(const Tensor& x, double value) {
  return affine(x, 1.0, value, nullptr, "add_scalar");
}
void scale_(Tensor& x, double alpha) {
  affine(x, alpha, 0.0, &x, "scale_");
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  const char* op = "axpy";
  check_float_input(x, op, "x");
  check_float_input(y, op, "y");
  check_shape(x, y.shape(), op, "x");
  check_same_device_dtype(y, {&x}, op);
  check_finite(alpha, op, "alpha");
  if (y.numel() == 0) return;
  if (y.device().is_cpu()) {
    dispatch_float(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::axpy(static_cast<T>(alpha), x.data<T>(), y.data<T>(), y.numel());
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::axpy(alpha, x.data_ptr(), y.data_ptr(), y.numel(), y.dtype(), current_stream(y.device()));
#else
    throw_no_cuda(op);
#endif
  }
}

}  // namespace cudanet::kernels
