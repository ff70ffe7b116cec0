#include "layers/elementwise_layers.h"

#include "kernels/cudnn.h"
#include "kernels/softmax.h"

namespace cudanet::layers {

// ---- activations -------------------------------------------------------------------------------

ActivationLayer::ActivationLayer(kernels::Activation kind, double negative_slope)
    : kind_(kind), slope_(negative_slope) {}

const char* ActivationLayer::type() const {
  switch (kind_) {
    case kernels::Activation::kReLU:
      return "ReLU";
    case kernels::Activation::kLeakyReLU:
      return "LeakyReLU";
    case kernels::Activation::kSigmoid:
      return "Sigmoid";
    case kernels::Activation::kTanh:
      return "Tanh";
  }
  return "Activation";
}

std::string ActivationLayer::describe() const {
  if (kind_ == kernels::Activation::kLeakyReLU) return detail::str("LeakyReLU(", slope_, ")");
  return type();
}

bool ActivationLayer::inplace_capable() const {
  return kind_ == kernels::Activation::kReLU ||
         (kind_ == kernels::Activation::kLeakyReLU && slope_ >= 0);
}

MemoryTraits ActivationLayer::memory_traits(Device device, bool inplace) const {
  MemoryTraits t;
  t.supports_inplace = inplace_capable();
  if (inplace) {
    t.backward_reads_input = false;  // overwritten; y stands in for it
    t.backward_reads_output = true;
    t.output_aliases_input = true;
    return t;
  }
  const bool from_output =
      kind_ == kernels::Activation::kSigmoid || kind_ == kernels::Activation::kTanh;
  const bool cudnn =
      backend_ == Backend::kCudnn && device.is_cuda() && kernels::cudnn::supports(kind_);
  t.backward_reads_input = cudnn || !from_output;
  t.backward_reads_output = cudnn || from_output;
  t.output_aliases_input = false;
  return t;
}

Tensor ActivationLayer::forward_inplace(const Tensor& x, Mode mode) {
  CUDANET_CHECK(inplace_capable(), ValueError, describe(), ": does not run in place");
  kernels::activation_forward_inplace(kind_, x, slope_);
  cudnn_ = false;
  saved_ = mode == Mode::kTrain ? x : Tensor();
  y_ = Tensor();
  return x;
}

Tensor ActivationLayer::forward(const Tensor& x, Mode mode) {
  cudnn_ = use_cudnn(x) && kernels::cudnn::supports(kind_);
  if (cudnn_) {
    // cuDNN's backward reads both x and y (y is the next layer's input: keeping it costs nothing).
    Tensor y = kernels::cudnn::activation_forward(kind_, x);
    saved_ = mode == Mode::kTrain ? x : Tensor();
    y_ = mode == Mode::kTrain ? y : Tensor();
    return y;
  }
  Tensor y = kernels::activation_forward(kind_, x, slope_);
  const bool from_output =
      kind_ == kernels::Activation::kSigmoid || kind_ == kernels::Activation::kTanh;
  saved_ = mode == Mode::kTrain ? (from_output ? y : x) : Tensor();
  y_ = Tensor();
  return y;
}

Tensor ActivationLayer::backward(const Tensor& dy) {
  require_saved(saved_, "activation");
  // In place, saved_ is y, which the ReLU family's backward takes for x (kernels/activation.h).
  if (cudnn_) return kernels::cudnn::activation_backward(kind_, dy, saved_, y_);
  return kernels::activation_backward(kind_, dy, saved_, slope_);
}

// ---- softmax -----------------------------------------------------------------------------------

Shape Softmax::output_shape(const Shape& input) const {
  CUDANET_CHECK(input.size() == 2, ShapeError, "Softmax: input must be [N, C], got ",
                shape_str(input));
  return input;
}

Tensor Softmax::forward(const Tensor& x, Mode mode) {
  output_shape(x.shape());
  cudnn_ = use_cudnn(x);
  Tensor y = cudnn_ ? kernels::cudnn::softmax_forward(x) : kernels::softmax_forward(x);
  y_ = mode == Mode::kTrain ? y : Tensor();
  return y;
}

Tensor Softmax::backward(const Tensor& dy) {
  require_saved(y_, "output");
  if (cudnn_) return kernels::cudnn::softmax_backward(y_, dy);
  return kernels::softmax_backward(y_, dy);
}

// ---- flatten -----------------------------------------------------------------------------------

Shape Flatten::output_shape(const Shape& input) const {
  CUDANET_CHECK(!input.empty(), ShapeError, "Flatten: input needs a batch dimension");
  std::int64_t features = 1;
  for (std::size_t i = 1; i < input.size(); ++i) features *= input[i];
  return {input[0], features};
}

Tensor Flatten::forward(const Tensor& x, Mode) {
  input_shape_ = x.shape();
  return x.reshape(output_shape(x.shape()));
}

Tensor Flatten::backward(const Tensor& dy) {
  CUDANET_CHECK(!input_shape_.empty(), ValueError, "Flatten.backward: run forward first");
  return dy.reshape(input_shape_);
}

// ---- pooling -----------------------------------------------------------------------------------

Pool2d::Pool2d(Kind kind, const kernels::Pool2dParams& params) : kind_(kind), params_(params) {}

std::string Pool2d::describe() const {
  std::string s = detail::str(type(), "(kernel=", params_.kernel_h);
  if (params_.kernel_w != params_.kernel_h) s += detail::str("x", params_.kernel_w);
  const std::int64_t stride = params_.stride_h == 0 ? params_.kernel_h : params_.stride_h;
  s += detail::str(", stride=", stride);
  if (params_.pad_h != 0) s += detail::str(", padding=", params_.pad_h);
  return s + ")";
}

Shape Pool2d::output_shape(const Shape& input) const {
  return kernels::pool2d_output_shape(input, params_);
}

Tensor Pool2d::forward(const Tensor& x, Mode mode) {
  input_shape_ = x.shape();
  saved_ = mode == Mode::kTrain;
  x_ = y_ = argmax_ = Tensor();
  if (use_cudnn(x)) {
    // cuDNN's backward takes the forward's input and output instead of an argmax.
    const auto kind =
        kind_ == Kind::kMax ? kernels::cudnn::PoolKind::kMax : kernels::cudnn::PoolKind::kAvg;
    Tensor y = kernels::cudnn::pool2d_forward(kind, x, params_);
    if (saved_) x_ = x, y_ = y;
    return y;
  }
  if (kind_ == Kind::kAvg) return kernels::avg_pool2d_forward(x, params_);
  // The argmax as window offsets: one byte per output instead of eight (docs/memory.md).
  const bool small_window = params_.kernel_h * params_.kernel_w <= kernels::kMaxWindowOffsetArgmax;
  return kernels::max_pool2d_forward(
      x, params_, saved_ ? &argmax_ : nullptr,
      small_window ? kernels::ArgmaxFormat::kWindowOffset : kernels::ArgmaxFormat::kPlaneIndex);
}

MemoryTraits Pool2d::memory_traits(Device device, bool) const {
  // Native: an argmax (max) or nothing (average) besides shapes; cuDNN: the input and output.
  const bool cudnn = backend_ == Backend::kCudnn && device.is_cuda();
  return {cudnn, cudnn, false, false};
}

void Pool2d::release_saved() {
  argmax_ = x_ = y_ = Tensor();
  saved_ = false;
}

Tensor Pool2d::backward(const Tensor& dy) {
  CUDANET_CHECK(saved_, ValueError, type(), ".backward: run forward in training mode first");
  if (x_.defined()) {
    const auto kind =
        kind_ == Kind::kMax ? kernels::cudnn::PoolKind::kMax : kernels::cudnn::PoolKind::kAvg;
    return kernels::cudnn::pool2d_backward(kind, dy, x_, y_, params_);
  }
  if (kind_ == Kind::kAvg) return kernels::avg_pool2d_backward(dy, input_shape_, params_);
  return kernels::max_pool2d_backward(dy, argmax_, input_shape_, params_);
}

}  // namespace cudanet::layers
