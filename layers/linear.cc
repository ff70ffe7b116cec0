#include "layers/linear.h"

#include <cmath>

#include "kernels/cudnn.h"
#include "kernels/linear.h"

namespace cudanet::layers {

namespace {
void init_uniform(Tensor& t, double bound, Generator* g) {
  if (g != nullptr && t.numel() > 0) t.uniform_(-bound, bound, *g);
}
}  // namespace

// ---- Linear ----------------------------------------------------------------------------------

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator* g)
    : in_(in_features), out_(out_features), has_bias_(bias) {
  CUDANET_CHECK(in_features > 0 && out_features > 0, ValueError, "Linear: sizes must be > 0, got ",
                in_features, " -> ", out_features);
  weight_ = make_parameter("weight", {out_, in_});
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  init_uniform(weight_.value, bound, g);
  if (has_bias_) {
    bias_ = make_parameter("bias", {out_});
    init_uniform(bias_.value, bound, g);
  }
}

std::string Linear::describe() const {
  return detail::str("Linear(", in_, ", ", out_, has_bias_ ? "" : ", bias=false", ")");
}

Shape Linear::output_shape(const Shape& input) const {
  CUDANET_CHECK(input.size() == 2 && input[1] == in_, ShapeError, "Linear(", in_, ", ", out_,
                "): input must be [N, ", in_, "], got ", shape_str(input));
  return {input[0], out_};
}

Tensor Linear::forward(const Tensor& x, Mode mode) {
  output_shape(x.shape());
  x_ = mode == Mode::kTrain ? x : Tensor();
  return kernels::linear_forward(x, weight_.value, has_bias_ ? &bias_.value : nullptr,
                                 gemm_backend());
}

Tensor Linear::backward(const Tensor& dy) {
  require_saved(x_, "input");
  Tensor dx = input_grad_ ? Tensor::empty(x_.shape(), x_.dtype(), x_.device()) : Tensor();
  kernels::linear_backward_into(dy, x_, weight_.value, input_grad_ ? &dx : nullptr, &weight_.grad,
                                has_bias_ ? &bias_.grad : nullptr, /*accumulate=*/true,
                                gemm_backend());
  return dx;
}

kernels::GemmBackend Linear::gemm_backend() const {
  return backend_ == Backend::kCudnn ? kernels::GemmBackend::kCublas
                                     : kernels::GemmBackend::kNative;
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

// ---- Conv2d ----------------------------------------------------------------------------------

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, const Conv2dOptions& o,
               Generator* g)
    : in_(in_channels), out_(out_channels), options_(o) {
  CUDANET_CHECK(in_ > 0 && out_ > 0 && o.groups > 0 && in_ % o.groups == 0 && out_ % o.groups == 0,
                ValueError, "Conv2d: channels ", in_, " -> ", out_,
                " must be positive multiples of ", "groups ", o.groups);
  CUDANET_CHECK(
      o.kernel_h > 0 && o.kernel_w > 0 && o.stride > 0 && o.padding >= 0 && o.dilation > 0,
      ValueError, "Conv2d: invalid kernel ", o.kernel_h, "x", o.kernel_w, ", stride ", o.stride,
      ", padding ", o.padding, " or dilation ", o.dilation);
  params_.stride_h = params_.stride_w = o.stride;
  params_.pad_h = params_.pad_w = o.padding;
  params_.dilation_h = params_.dilation_w = o.dilation;
  params_.groups = o.groups;
  weight_ = make_parameter("weight", {out_, in_ / o.groups, o.kernel_h, o.kernel_w});
  const double fan_in = static_cast<double>(in_ / o.groups * o.kernel_h * o.kernel_w);
  const double bound = 1.0 / std::sqrt(fan_in);
  init_uniform(weight_.value, bound, g);
  if (o.bias) {
    bias_ = make_parameter("bias", {out_});
    init_uniform(bias_.value, bound, g);
  }
}

std::string Conv2d::describe() const {
  std::string s = detail::str("Conv2d(", in_, ", ", out_, ", kernel=", options_.kernel_h);
  if (options_.kernel_w != options_.kernel_h) s += detail::str("x", options_.kernel_w);
  if (options_.stride != 1) s += detail::str(", stride=", options_.stride);
  if (options_.padding != 0) s += detail::str(", padding=", options_.padding);
  if (options_.dilation != 1) s += detail::str(", dilation=", options_.dilation);
  if (options_.groups != 1) s += detail::str(", groups=", options_.groups);
  if (!options_.bias) s += ", bias=false";
  return s + ")";
}

Shape Conv2d::output_shape(const Shape& input) const {
  CUDANET_CHECK(input.size() == 4 && input[1] == in_, ShapeError, describe(),
                ": input must be [N, ", in_, ", H, W], got ", shape_str(input));
  return kernels::conv2d_geometry(input, weight_.value.shape(), params_, "Conv2d").y_shape();
}

Tensor Conv2d::forward(const Tensor& x, Mode mode) {
  output_shape(x.shape());
  x_ = mode == Mode::kTrain ? x : Tensor();
  const Tensor* b = options_.bias ? &bias_.value : nullptr;
  if (use_cudnn(x)) return kernels::cudnn::conv2d_forward(x, weight_.value, b, params_);
  return kernels::conv2d_forward(x, weight_.value, b, params_, algo_);
}

Tensor Conv2d::backward(const Tensor& dy) {
  require_saved(x_, "input");
  namespace cudnn = kernels::cudnn;
  const bool on_cudnn = use_cudnn(dy);
  const Shape& w_shape = weight_.value.shape();
  accumulate(weight_, on_cudnn ? cudnn::conv2d_backward_filter(dy, x_, w_shape, params_)
                               : kernels::conv2d_backward_filter(dy, x_, w_shape, params_, algo_));
  if (options_.bias) {
    accumulate(bias_,
               on_cudnn ? cudnn::conv2d_backward_bias(dy) : kernels::conv2d_backward_bias(dy));
  }
  if (!input_grad_) return Tensor();
  if (on_cudnn) return cudnn::conv2d_backward_data(dy, weight_.value, x_.shape(), params_);
  return kernels::conv2d_backward_data(dy, weight_.value, x_.shape(), params_, algo_);
}

std::vector<Parameter*> Conv2d::parameters() {
  if (options_.bias) return {&weight_, &bias_};
  return {&weight_};
}

}  // namespace cudanet::layers
