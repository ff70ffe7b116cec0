// Element-wise activations: ReLU, leaky ReLU, sigmoid and tanh, forward and backward.
//
//   relu(x)          = x > 0 ? x : 0          (NaN stays NaN)
//   leaky_relu(x, s) = x > 0 ? x : s * x
//   sigmoid(x)       = 1 / (1 + exp(-x))
//   tanh(x)
//
// Note: the backward convention. ReLU and leaky ReLU take the forward INPUT x:
//   dx = x > 0 ? dy : 0 (leaky: s * dy), so the gradient at exactly 0 is the left one (0 or s);
// sigmoid and tanh take the forward OUTPUT y, which is all they need:
//   sigmoid: dx = dy * y * (1 - y);   tanh: dx = dy * (1 - y * y).
// Tensors of any shape, contiguous, float32 or float64; dy and x (or y) alike in shape, dtype and
// device. ReLU and leaky ReLU are exact (CPU and GPU agree bitwise); sigmoid and tanh agree to
// the accuracy of the device's exp / tanh.
#pragma once

#include <cstdint>

#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

enum class Activation { kReLU, kLeakyReLU, kSigmoid, kTanh };

const char* activation_name(Activation kind);  // "relu", "leaky_relu", "sigmoid", "tanh"

// The generic entry points. `negative_slope` is used by kLeakyReLU only (any finite value).
// activation_backward's `x_or_y` is x for kReLU / kLeakyReLU and y for kSigmoid / kTanh.
Tensor activation_forward(Activation kind, const Tensor& x, double negative_slope = 0.01);
Tensor activation_backward(Activation kind, const Tensor& dy, const Tensor& x_or_y,
                           double negative_slope = 0.01);
// The forward in place: x's elements are replaced by the activation's (bitwise the values
// activation_forward returns). For ReLU, and leaky ReLU with negative_slope >= 0, y > 0 exactly
// where x > 0 (NaN and -0 included), so the backward may then take y for x and gives the same dx
// bit for bit: that is what lets a network run these activations in place (docs/memory.md).
void activation_forward_inplace(Activation kind, const Tensor& x, double negative_slope = 0.01);

Tensor relu_forward(const Tensor& x);
Tensor relu_backward(const Tensor& dy, const Tensor& x);
Tensor leaky_relu_forward(const Tensor& x, double negative_slope = 0.01);
Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid_forward(const Tensor& x);
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y);
Tensor tanh_forward(const Tensor& x);
Tensor tanh_backward(const Tensor& dy, const Tensor& y);

namespace cpu {
// The reference, instantiated for float and double: n elements.
template <typename T>
void activation_forward(Activation kind, const T* x, T* y, std::int64_t n, T negative_slope);
template <typename T>
void activation_backward(Activation kind, const T* dy, const T* x_or_y, T* dx, std::int64_t n,
                         T negative_slope);
}  // namespace cpu

namespace cuda {
// Device pointers on stream.device(); work queued on `stream`. dtype: float32 or float64.
void activation_forward(Activation kind, const void* x, void* y, std::int64_t n,
                        double negative_slope, DType dtype, const Stream& stream);
void activation_backward(Activation kind, const void* dy, const void* x_or_y, void* dx,
                         std::int64_t n, double negative_slope, DType dtype, const Stream& stream);
void activation_forward_inplace(Activation kind, void* x, std::int64_t n, double negative_slope,
                                DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
