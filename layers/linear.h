// Fully connected and convolution layers.
#pragma once

#include "core/random.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "layers/layer.h"

namespace cudanet::layers {

// y = x wᵀ + b. x [N, in] -> y [N, out]; weight [out, in] (PyTorch's layout), bias [out].
// Initialised like PyTorch from `init`: weight and bias uniform in ±1/sqrt(in) (zeros when `init`
// is null, for a caller that initialises otherwise).
class Linear : public Layer {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
         Generator* init = &default_generator());
  const char* type() const override { return "Linear"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  MemoryTraits memory_traits(Device, bool) const override { return {true, false, false, false}; }
  std::vector<Tensor> saved_tensors() const override { return {x_}; }
  void release_saved() override { x_ = Tensor(); }

  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }

 private:
  // The products' GEMM: cuBLAS under the cudnn backend, the hand-written kernels under native
  // (both mean the CPU GEMM on CPU tensors).
  kernels::GemmBackend gemm_backend() const;

  std::int64_t in_, out_;
  bool has_bias_;
  Parameter weight_, bias_;
  Tensor x_;  // saved input
};

struct Conv2dOptions {
  std::int64_t kernel_h = 3, kernel_w = 3;
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  // Square kernels: Conv2dOptions::square(5).padding_(2) reads as in a paper.
  static Conv2dOptions square(std::int64_t k) {
    Conv2dOptions o;
    o.kernel_h = o.kernel_w = k;
    return o;
  }
  Conv2dOptions& stride_(std::int64_t v) {
    stride = v;
    return *this;
  }
  Conv2dOptions& padding_(std::int64_t v) {
    padding = v;
    return *this;
  }
  Conv2dOptions& dilation_(std::int64_t v) {
    dilation = v;
    return *this;
  }
  Conv2dOptions& groups_(std::int64_t v) {
    groups = v;
    return *this;
  }
  Conv2dOptions& bias_(bool v) {
    bias = v;
    return *this;
  }
};

// 2-D convolution, NCHW. weight [out, in/groups, kh, kw], bias [out]. Initialised like PyTorch:
// uniform in ±1/sqrt(fan_in), fan_in = in/groups·kh·kw (zeros when `init` is null). The GPU
// algorithm is the hand-written implicit GEMM unless set_algo() picks im2col + GEMM, or cuDNN's
// choice under the cudnn backend.
class Conv2d : public Layer {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, const Conv2dOptions& options,
         Generator* init = &default_generator());
  const char* type() const override { return "Conv2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  MemoryTraits memory_traits(Device, bool) const override { return {true, false, false, false}; }
  std::vector<Tensor> saved_tensors() const override { return {x_}; }
  void release_saved() override { x_ = Tensor(); }
  void set_algo(kernels::ConvAlgo algo) { algo_ = algo; }

  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }
  const kernels::Conv2dParams& params() const { return params_; }

 private:
  std::int64_t in_, out_;
  Conv2dOptions options_;
  kernels::Conv2dParams params_;
  kernels::ConvAlgo algo_ = kernels::ConvAlgo::kImplicitGemm;
  Parameter weight_, bias_;
  Tensor x_;
};

}  // namespace cudanet::layers
