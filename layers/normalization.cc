#include "layers/normalization.h"

#include "kernels/cudnn.h"
#include "kernels/dropout.h"

namespace cudanet::layers {

// ---- LocalResponseNorm -------------------------------------------------------------------------

LocalResponseNorm::LocalResponseNorm(std::int64_t size, double alpha, double beta, double k) {
  CUDANET_CHECK(size >= 1 && alpha >= 0 && k > 0, ValueError,
                "LocalResponseNorm: need size >= 1, alpha >= 0, k > 0; got size ", size, ", alpha ",
                alpha, ", k ", k);
  params_.size = size;
  params_.alpha = alpha;
  params_.beta = beta;
  params_.k = k;
}

std::string LocalResponseNorm::describe() const {
  return detail::str("LocalResponseNorm(size=", params_.size, ", alpha=", params_.alpha,
                     ", beta=", params_.beta, ", k=", params_.k, ")");
}

Shape LocalResponseNorm::output_shape(const Shape& input) const {
  CUDANET_CHECK(input.size() >= 2, ShapeError, "LocalResponseNorm: input must be [N, C, ...], got ",
                shape_str(input));
  return input;
}

Tensor LocalResponseNorm::forward(const Tensor& x, Mode mode) {
  output_shape(x.shape());
  cudnn_ = use_cudnn(x) && kernels::cudnn::supports(params_);
  // Native kernels: no scale is kept, the backward recomputes it from x bit for bit
  // (kernels/lrn.h).
  Tensor y =
      cudnn_ ? kernels::cudnn::lrn_forward(x, params_) : kernels::lrn_forward(x, params_, nullptr);
  x_ = mode == Mode::kTrain ? x : Tensor();
  y_ = mode == Mode::kTrain ? y : Tensor();
  return y;
}

Tensor LocalResponseNorm::backward(const Tensor& dy) {
  if (cudnn_) {
    require_saved(y_, "output");
    return kernels::cudnn::lrn_backward(dy, x_, y_, params_);
  }
  require_saved(y_, "output");
  return kernels::lrn_backward(dy, x_, y_, Tensor(), params_);
}

// ---- BatchNorm2d -------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(std::int64_t channels, double eps, double momentum) : channels_(channels) {
  CUDANET_CHECK(channels > 0 && eps > 0 && momentum >= 0 && momentum <= 1, ValueError,
                "BatchNorm2d: need channels > 0, eps > 0, 0 <= momentum <= 1; got ", channels, ", ",
                eps, ", ", momentum);
  params_.eps = eps;
  params_.momentum = momentum;
  weight_ = make_parameter("weight", {channels});
  weight_.value.fill_(1.0);
  bias_ = make_parameter("bias", {channels});
  running_mean_ = Tensor::zeros({channels});
  running_var_ = Tensor::full({channels}, 1.0);
}

std::string BatchNorm2d::describe() const {
  return detail::str("BatchNorm2d(", channels_, ", eps=", params_.eps,
                     ", momentum=", params_.momentum, ")");
}

Shape BatchNorm2d::output_shape(const Shape& input) const {
  CUDANET_CHECK(input.size() == 4 && input[1] == channels_, ShapeError, describe(),
                ": input must be [N, ", channels_, ", H, W], got ", shape_str(input));
  return input;
}

Tensor BatchNorm2d::forward(const Tensor& x, Mode mode) {
  output_shape(x.shape());
  namespace cudnn = kernels::cudnn;
  cudnn_ = use_cudnn(x);
  if (mode == Mode::kEval) {
    x_ = save_mean_ = save_inv_std_ = Tensor();
    if (cudnn_) {
      return cudnn::batchnorm_forward_inference(x, weight_.value, bias_.value, running_mean_,
                                                running_var_, params_);
    }
    return kernels::batchnorm_forward_inference(x, weight_.value, bias_.value, running_mean_,
                                                running_var_, params_);
  }
  x_ = x;
  if (cudnn_) {
    return cudnn::batchnorm_forward_training(x, weight_.value, bias_.value, &running_mean_,
                                             &running_var_, params_, &save_mean_, &save_inv_std_);
  }
  return kernels::batchnorm_forward_training(x, weight_.value, bias_.value, &running_mean_,
                                             &running_var_, params_, &save_mean_, &save_inv_std_);
}

Tensor BatchNorm2d::backward(const Tensor& dy) {
  require_saved(x_, "input");
  kernels::BatchNormGrads g =
      cudnn_ ? kernels::cudnn::batchnorm_backward(x_, dy, weight_.value, save_mean_, save_inv_std_,
                                                  params_)
             : kernels::batchnorm_backward(x_, dy, weight_.value, save_mean_, save_inv_std_);
  accumulate(weight_, g.dgamma);
  accumulate(bias_, g.dbeta);
  return g.dx;
}

// ---- Dropout -----------------------------------------------------------------------------------

Dropout::Dropout(double p) : p_(p) {
  CUDANET_CHECK(p >= 0 && p < 1, ValueError, "Dropout: p must be in [0, 1), got ", p);
}

std::string Dropout::describe() const {
  return detail::str("Dropout(p=", p_, ")");
}

Tensor Dropout::forward(const Tensor& x, Mode mode) {
  identity_ = mode == Mode::kEval || p_ == 0;
  saved_ = false;
  if (identity_) return x;
  kernels::DropoutResult r = kernels::dropout_forward(
      x, p_, generator_ ? *generator_ : default_generator(), /*store_mask=*/false);
  seed_ = r.seed;
  offset_ = r.offset;
  offset_shift_ = r.offset_shift;
  saved_ = true;
  return r.y;
}

Tensor Dropout::backward(const Tensor& dy) {
  if (identity_) return dy;
  CUDANET_CHECK(saved_, ValueError, type(),
                ".backward: no mask saved; run forward in training mode first");
  return kernels::dropout_backward(dy, p_, seed_, offset_, offset_shift_);
}

}  // namespace cudanet::layers
