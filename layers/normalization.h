// Layers that normalise or regularise: LocalResponseNorm (AlexNet's), BatchNorm2d, Dropout.
#pragma once

#include "core/random.h"
#include "kernels/batchnorm.h"
#include "kernels/lrn.h"
#include "layers/layer.h"

namespace cudanet::layers {

// b = a / (k + α/n · Σ a²)^β across n neighbouring channels (PyTorch's LocalResponseNorm).
// Training keeps the input and output for the backward; the native kernels recompute the scale
// from the input there (bitwise the forward's), so it is not kept.
class LocalResponseNorm : public Layer {
 public:
  explicit LocalResponseNorm(std::int64_t size = 5, double alpha = 1e-4, double beta = 0.75,
                             double k = 1.0);
  const char* type() const override { return "LocalResponseNorm"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  MemoryTraits memory_traits(Device, bool) const override { return {true, true, false, false}; }
  std::vector<Tensor> saved_tensors() const override { return {x_, y_}; }
  void release_saved() override { x_ = y_ = Tensor(); }

 private:
  kernels::LrnParams params_;
  Tensor x_, y_;
  bool cudnn_ = false;  // whether the last forward ran on cuDNN
};

// Batch normalisation per channel of NCHW input: batch statistics in training (updating the
// running mean and variance with `momentum`), running statistics in evaluation.
// Parameters weight (γ, ones) and bias (β, zeros); buffers running_mean and running_var.
class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(std::int64_t channels, double eps = 1e-5, double momentum = 0.1);
  const char* type() const override { return "BatchNorm2d"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::vector<NamedTensor> buffers() override {
    return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
  }
  MemoryTraits memory_traits(Device, bool) const override { return {true, false, false, false}; }
  std::vector<Tensor> saved_tensors() const override { return {x_, save_mean_, save_inv_std_}; }
  void release_saved() override { x_ = save_mean_ = save_inv_std_ = Tensor(); }

 private:
  std::int64_t channels_;
  kernels::BatchNormParams params_;
  Parameter weight_, bias_;
  Tensor running_mean_, running_var_;
  Tensor x_, save_mean_, save_inv_std_;
  bool cudnn_ = false;
};

// Inverted dropout: in training each element is kept with probability 1 − p and scaled by
// 1/(1 − p); in evaluation the identity. The mask comes from the Philox stream of `generator`
// (the default generator unless set), so the same generator state gives the same mask on CPU
// and GPU. No mask is stored: forward keeps the draw's (seed, offset) and backward regenerates
// the mask from them (kernels/dropout.h), so dropout saves no activation memory at all.
class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5);
  const char* type() const override { return "Dropout"; }
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  // Backward reads nothing; the output is the input itself in evaluation or for p = 0.
  MemoryTraits memory_traits(Device, bool) const override { return {false, false, true, false}; }
  void release_saved() override { saved_ = false; }
  void set_generator(Generator* generator) { generator_ = generator; }

 private:
  double p_;
  Generator* generator_ = nullptr;
  std::uint64_t seed_ = 0, offset_ = 0;  // the last training forward's draw
  // In a captured CUDA graph: the device slot the forward's offset is shifted by at each replay
  // (kernels::DropoutResult::offset_shift), which the backward must read too.
  const std::uint64_t* offset_shift_ = nullptr;
  bool saved_ = false;
  bool identity_ = false;
};

}  // namespace cudanet::layers
