// Layers without parameters: activations, softmax, flatten, pooling.
#pragma once

#include "kernels/activation.h"
#include "kernels/pool2d.h"
#include "layers/layer.h"

namespace cudanet::layers {

// ReLU, LeakyReLU, Sigmoid and Tanh. Backward uses the saved input (ReLU family) or output
// (sigmoid, tanh). ReLU and leaky ReLU with a slope >= 0 also run in place (forward_inplace):
// their backward then reads the output, which is positive exactly where the input was, and gives
// the same gradient bit for bit (always on the native kernels, whatever the backend).
class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(kernels::Activation kind, double negative_slope = 0.01);
  const char* type() const override;
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  MemoryTraits memory_traits(Device device, bool inplace) const override;
  Tensor forward_inplace(const Tensor& x, Mode mode) override;
  std::vector<Tensor> saved_tensors() const override { return {saved_, y_}; }
  void release_saved() override { saved_ = y_ = Tensor(); }

 private:
  bool inplace_capable() const;

  kernels::Activation kind_;
  double slope_;
  Tensor saved_;        // x (ReLU family; y when run in place) or y (sigmoid, tanh)
  Tensor y_;            // the output, saved for cuDNN's backward
  bool cudnn_ = false;  // whether the last forward ran on cuDNN
};

class ReLU : public ActivationLayer {
 public:
  ReLU() : ActivationLayer(kernels::Activation::kReLU) {}
};
class LeakyReLU : public ActivationLayer {
 public:
  explicit LeakyReLU(double negative_slope = 0.01)
      : ActivationLayer(kernels::Activation::kLeakyReLU, negative_slope) {}
};
class Sigmoid : public ActivationLayer {
 public:
  Sigmoid() : ActivationLayer(kernels::Activation::kSigmoid) {}
};
class Tanh : public ActivationLayer {
 public:
  Tanh() : ActivationLayer(kernels::Activation::kTanh) {}
};

// Softmax over the last dimension of [N, C].
class Softmax : public Layer {
 public:
  const char* type() const override { return "Softmax"; }
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  MemoryTraits memory_traits(Device, bool) const override { return {false, true, false, false}; }
  std::vector<Tensor> saved_tensors() const override { return {y_}; }
  void release_saved() override { y_ = Tensor(); }

 private:
  Tensor y_;
  bool cudnn_ = false;
};

// [N, d1, d2, ...] -> [N, d1·d2·...].
class Flatten : public Layer {
 public:
  const char* type() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  // A view: the output is the input's storage; backward reads shapes only.
  MemoryTraits memory_traits(Device, bool) const override { return {false, false, true, false}; }

 private:
  Shape input_shape_;
};

// Max pooling (records the argmax as window offsets for backward; on cuDNN the input and output
// instead) and average pooling (count_include_pad, as PyTorch).
class Pool2d : public Layer {
 public:
  enum class Kind { kMax, kAvg };
  Pool2d(Kind kind, const kernels::Pool2dParams& params);
  const char* type() const override { return kind_ == Kind::kMax ? "MaxPool2d" : "AvgPool2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  MemoryTraits memory_traits(Device device, bool inplace) const override;
  std::vector<Tensor> saved_tensors() const override { return {argmax_, x_, y_}; }
  void release_saved() override;

 private:
  Kind kind_;
  kernels::Pool2dParams params_;
  Shape input_shape_;
  Tensor argmax_;
  Tensor x_, y_;  // saved by the cuDNN path instead of argmax_
  bool saved_ = false;
};

class MaxPool2d : public Pool2d {
 public:
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0)
      : Pool2d(Kind::kMax, kernels::Pool2dParams::square(kernel, stride, padding)) {}
};
class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0)
      : Pool2d(Kind::kAvg, kernels::Pool2dParams::square(kernel, stride, padding)) {}
};

}  // namespace cudanet::layers
