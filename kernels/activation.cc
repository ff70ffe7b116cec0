// Activations: argument checks and device dispatch (see kernels/activation.h).
#include "kernels/activation.h"

#include <cmath>
#include <string>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

std::string op_name(Activation kind, const char* pass) {
  return std::string(activation_name(kind)) + "_" + pass;
}

void check_kind_and_slope(Activation kind, double negative_slope, const std::string& op) {
  CUDANET_CHECK(kind == Activation::kReLU || kind == Activation::kLeakyReLU ||
                    kind == Activation::kSigmoid || kind == Activation::kTanh,
                ValueError, op, ": unknown activation kind ", static_cast<int>(kind));
  CUDANET_CHECK(kind != Activation::kLeakyReLU || std::isfinite(negative_slope), ValueError, op,
                ": negative_slope must be finite, got ", negative_slope);
}

}  // namespace

const char* activation_name(Activation kind) {
  switch (kind) {
    case Activation::kReLU:
      return "relu";
    case Activation::kLeakyReLU:
      return "leaky_relu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
  }
  return "activation";
}

Tensor activation_forward(Activation kind, const Tensor& x, double negative_slope) {
  const std::string op = op_name(kind, "forward");
  check_kind_and_slope(kind, negative_slope, op);
  check_float_input(x, op.c_str(), "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    if (x.dtype() == DType::kFloat32) {
      cpu::activation_forward<float>(kind, x.data<float>(), y.data<float>(), x.numel(),
                                     static_cast<float>(negative_slope));
    } else {
      cpu::activation_forward<double>(kind, x.data<double>(), y.data<double>(), x.numel(),
                                      negative_slope);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::activation_forward(kind, x.data_ptr(), y.data_ptr(), x.numel(), negative_slope, x.dtype(),
                             current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, op, ": this cudanet was built without CUDA");
#endif
  }
  return y;
}

void activation_forward_inplace(Activation kind, const Tensor& x, double negative_slope) {
  const std::string op = op_name(kind, "forward_inplace");
  check_kind_and_slope(kind, negative_slope, op);
  check_float_input(x, op.c_str(), "x");
  if (x.device().is_cpu()) {
    // The reference's loops read element i before writing it: y may be x.
    if (x.dtype() == DType::kFloat32) {
      cpu::activation_forward<float>(kind, x.data<float>(), x.data<float>(), x.numel(),
                                     static_cast<float>(negative_slope));
    } else {
      cpu::activation_forward<double>(kind, x.data<double>(), x.data<double>(), x.numel(),
                                      negative_slope);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::activation_forward_inplace(kind, x.data_ptr(), x.numel(), negative_slope, x.dtype(),
                                     current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, op, ": this cudanet was built without CUDA");
#endif
  }
}

Tensor activation_backward(Activation kind, const Tensor& dy, const Tensor& x_or_y,
                           double negative_slope) {
  const std::string op = op_name(kind, "backward");
  const char* saved = kind == Activation::kSigmoid || kind == Activation::kTanh ? "y" : "x";
  check_kind_and_slope(kind, negative_slope, op);
  check_float_input(dy, op.c_str(), "dy");
  check_float_input(x_or_y, op.c_str(), saved);
  check_same_device_dtype(dy, {&x_or_y}, op.c_str());
  check_shape(x_or_y, dy.shape(), op.c_str(), saved);
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    if (dy.dtype() == DType::kFloat32) {
      cpu::activation_backward<float>(kind, dy.data<float>(), x_or_y.data<float>(),
                                      dx.data<float>(), dy.numel(),
                                      static_cast<float>(negative_slope));
    } else {
      cpu::activation_backward<double>(kind, dy.data<double>(), x_or_y.data<double>(),
                                       dx.data<double>(), dy.numel(), negative_slope);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::activation_backward(kind, dy.data_ptr(), x_or_y.data_ptr(), dx.data_ptr(), dy.numel(),
                              negative_slope, dy.dtype(), current_stream(dy.device()));
#else
    CUDANET_THROW(CudaError, op, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

Tensor relu_forward(const Tensor& x) {
  return activation_forward(Activation::kReLU, x);
}
Tensor relu_backward(const Tensor& dy, const Tensor& x) {
  return activation_backward(Activation::kReLU, dy, x);
}
Tensor leaky_relu_forward(const Tensor& x, double negative_slope) {
  return activation_forward(Activation::kLeakyReLU, x, negative_slope);
}
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope) {
  return activation_backward(Activation::kLeakyReLU, dy, x, negative_slope);
}
Tensor sigmoid_forward(const Tensor& x) {
  return activation_forward(Activation::kSigmoid, x);
}
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  return activation_backward(Activation::kSigmoid, dy, y);
}
Tensor tanh_forward(const Tensor& x) {
  return activation_forward(Activation::kTanh, x);
}
Tensor tanh_backward(const Tensor& dy, const Tensor& y) {
  return activation_backward(Activation::kTanh, dy, y);
}

}  // namespace cudanet::kernels
