// LRN, softmax and batch normalisation on cuDNN, with the native ops' conventions and checks.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/cudnn/common.h"

namespace cudanet::kernels::cudnn {

namespace {

constexpr const char* kLrnForward = "cudnn::lrn_forward";
constexpr const char* kLrnBackward = "cudnn::lrn_backward";
constexpr const char* kSoftmaxForward = "cudnn::softmax_forward";
constexpr const char* kSoftmaxBackward = "cudnn::softmax_backward";
constexpr const char* kBnTraining = "cudnn::batchnorm_forward_training";
constexpr const char* kBnInference = "cudnn::batchnorm_forward_inference";
constexpr const char* kBnBackward = "cudnn::batchnorm_backward";

// cuDNN's window is [c - (n-1)/2, c + n/2]; PyTorch's (and ours) [c - n/2, c + (n-1)/2]. They
// agree for odd n. cuDNN divides alpha by n, as PyTorch does.
detail::LrnDescriptor lrn_descriptor(const LrnParams& p, const char* op) {
  CUDANET_CHECK(supports(p), ValueError, op, ": cuDNN's LRN needs an odd size in [1, ",
                CUDNN_LRN_MAX_N, "], k >= ", CUDNN_LRN_MIN_K, " and beta >= ", CUDNN_LRN_MIN_BETA,
                "; got size ", p.size, ", k ", p.k, ", beta ", p.beta);
  detail::LrnDescriptor d;
  CUDANET_CUDNN_CHECK(
      cudnnSetLRNDescriptor(d.get(), static_cast<unsigned>(p.size), p.alpha, p.beta, p.k));
  return d;
}

// [n, c, inner] as a 4-D tensor [n, c, inner, 1].
detail::TensorDescriptor lrn_tensor(const LrnGeometry& g, DType dtype, const char* op) {
  return detail::tensor_4d(g.n, g.c, g.inner, 1, dtype, op);
}

// BatchNorm sees x as [N, C, S, 1] (S = H * W, or 1 for 2-D input).
struct BnDescriptors {
  detail::TensorDescriptor x;
  detail::TensorDescriptor params;  // [1, C, 1, 1], derived by cuDNN
};

BnDescriptors bn_descriptors(const Tensor& x, const char* op) {
  CUDANET_CHECK(x.dim() == 2 || x.dim() == 4, ShapeError, op,
                ": x must be [N, C] or [N, C, H, W], got ", shape_str(x.shape()));
  const std::int64_t s = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  BnDescriptors d{detail::tensor_4d(x.size(0), x.size(1), s, 1, x.dtype(), op),
                  detail::TensorDescriptor()};
  CUDANET_CUDNN_CHECK(
      cudnnDeriveBNTensorDescriptor(d.params.get(), d.x.get(), CUDNN_BATCHNORM_SPATIAL));
  return d;
}

void check_bn_params(const Tensor& x, std::initializer_list<const Tensor*> params, const char* op) {
  for (const Tensor* t : params) {
    if (t == nullptr) continue;
    detail::check_cuda_float(*t, op, "parameter");
    check_shape(*t, {x.size(1)}, op, "parameter");
  }
  check_same_device_dtype(x, params, op);
}

}  // namespace

// ---- LRN ----------------------------------------------------------------------------------------

bool supports(const LrnParams& p) {
  return p.size % 2 == 1 && p.size >= CUDNN_LRN_MIN_N && p.size <= CUDNN_LRN_MAX_N &&
         p.k >= CUDNN_LRN_MIN_K && p.beta >= CUDNN_LRN_MIN_BETA;
}

Tensor lrn_forward(const Tensor& x, const LrnParams& p) {
  detail::check_cuda_float(x, kLrnForward, "x");
  const LrnGeometry g = lrn_geometry(x.shape(), p, kLrnForward);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return y;
  const detail::LrnDescriptor ld = lrn_descriptor(p, kLrnForward);
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const detail::TensorDescriptor d = lrn_tensor(g, x.dtype(), kLrnForward);
  CUDANET_CUDNN_CHECK(cudnnLRNCrossChannelForward(
      detail::handle(stream), ld.get(), CUDNN_LRN_CROSS_CHANNEL_DIM1, detail::one(x.dtype()),
      d.get(), x.data_ptr(), detail::zero(x.dtype()), d.get(), y.data_ptr()));
  return y;
}

Tensor lrn_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const LrnParams& p) {
  detail::check_cuda_float(dy, kLrnBackward, "dy");
  detail::check_cuda_float(x, kLrnBackward, "x");
  detail::check_cuda_float(y, kLrnBackward, "y");
  check_same_device_dtype(dy, {&x, &y}, kLrnBackward);
  const LrnGeometry g = lrn_geometry(x.shape(), p, kLrnBackward);
  check_shape(y, x.shape(), kLrnBackward, "y");
  check_shape(dy, x.shape(), kLrnBackward, "dy");
  Tensor dx = Tensor::empty(x.shape(), dy.dtype(), dy.device());
  if (x.numel() == 0) return dx;
  const detail::LrnDescriptor ld = lrn_descriptor(p, kLrnBackward);
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::TensorDescriptor d = lrn_tensor(g, dy.dtype(), kLrnBackward);
  CUDANET_CUDNN_CHECK(cudnnLRNCrossChannelBackward(
      detail::handle(stream), ld.get(), CUDNN_LRN_CROSS_CHANNEL_DIM1, detail::one(dy.dtype()),
      d.get(), y.data_ptr(), d.get(), dy.data_ptr(), d.get(), x.data_ptr(),
      detail::zero(dy.dtype()), d.get(), dx.data_ptr()));
  return dx;
}

// ---- softmax ------------------------------------------------------------------------------------

Tensor softmax_forward(const Tensor& x) {
  detail::check_cuda_float(x, kSoftmaxForward, "x");
  check_dims(x, 2, kSoftmaxForward, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return y;
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const detail::TensorDescriptor d =
      detail::tensor_4d(x.size(0), x.size(1), 1, 1, x.dtype(), kSoftmaxForward);
  CUDANET_CUDNN_CHECK(cudnnSoftmaxForward(detail::handle(stream), CUDNN_SOFTMAX_ACCURATE,
                                          CUDNN_SOFTMAX_MODE_INSTANCE, detail::one(x.dtype()),
                                          d.get(), x.data_ptr(), detail::zero(x.dtype()), d.get(),
                                          y.data_ptr()));
  return y;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  detail::check_cuda_float(y, kSoftmaxBackward, "y");
  detail::check_cuda_float(dy, kSoftmaxBackward, "dy");
  check_same_device_dtype(y, {&dy}, kSoftmaxBackward);
  check_dims(y, 2, kSoftmaxBackward, "y");
  check_shape(dy, y.shape(), kSoftmaxBackward, "dy");
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.numel() == 0) return dx;
  const Stream stream = current_stream(y.device());
  ::cudanet::cuda::DeviceGuard guard(y.device().index());
  const detail::TensorDescriptor d =
      detail::tensor_4d(y.size(0), y.size(1), 1, 1, y.dtype(), kSoftmaxBackward);
  CUDANET_CUDNN_CHECK(cudnnSoftmaxBackward(detail::handle(stream), CUDNN_SOFTMAX_ACCURATE,
                                           CUDNN_SOFTMAX_MODE_INSTANCE, detail::one(y.dtype()),
                                           d.get(), y.data_ptr(), d.get(), dy.data_ptr(),
                                           detail::zero(y.dtype()), d.get(), dx.data_ptr()));
  return dx;
}

// ---- batch normalisation ------------------------------------------------------------------------

Tensor batchnorm_forward_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor* running_mean, Tensor* running_var,
                                  const BatchNormParams& p, Tensor* save_mean,
                                  Tensor* save_inv_std) {
  detail::check_cuda_float(x, kBnTraining, "x");
  CUDANET_CHECK((running_mean == nullptr) == (running_var == nullptr), ValueError, kBnTraining,
                ": give both running statistics or neither");
  CUDANET_CHECK(p.eps >= CUDNN_BN_MIN_EPSILON && p.momentum >= 0 && p.momentum <= 1, ValueError,
                kBnTraining, ": need eps >= ", CUDNN_BN_MIN_EPSILON,
                " and 0 <= momentum <= 1; got eps ", p.eps, ", momentum ", p.momentum);
  const BnDescriptors d = bn_descriptors(x, kBnTraining);
  check_bn_params(x, {&gamma, &beta, running_mean, running_var}, kBnTraining);
  const std::int64_t m = x.numel() / x.size(1);
  CUDANET_CHECK(m > 1, ValueError, kBnTraining,
                ": training needs more than one value per channel, got x ", shape_str(x.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({x.size(1)}, x.dtype(), x.device());
  Tensor inv_std = Tensor::empty({x.size(1)}, x.dtype(), x.device());
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  CUDANET_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      detail::handle(stream), CUDNN_BATCHNORM_SPATIAL, detail::one(x.dtype()),
      detail::zero(x.dtype()), d.x.get(), x.data_ptr(), d.x.get(), y.data_ptr(), d.params.get(),
      gamma.data_ptr(), beta.data_ptr(), p.momentum,
      running_mean ? running_mean->data_ptr() : nullptr,
      running_var ? running_var->data_ptr() : nullptr, p.eps, mean.data_ptr(), inv_std.data_ptr()));
  if (save_mean != nullptr) *save_mean = mean;
  if (save_inv_std != nullptr) *save_inv_std = inv_std;
  return y;
}

Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   const BatchNormParams& p) {
  detail::check_cuda_float(x, kBnInference, "x");
  const BnDescriptors d = bn_descriptors(x, kBnInference);
  check_bn_params(x, {&gamma, &beta, &running_mean, &running_var}, kBnInference);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  CUDANET_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      detail::handle(stream), CUDNN_BATCHNORM_SPATIAL, detail::one(x.dtype()),
      detail::zero(x.dtype()), d.x.get(), x.data_ptr(), d.x.get(), y.data_ptr(), d.params.get(),
      gamma.data_ptr(), beta.data_ptr(), running_mean.data_ptr(), running_var.data_ptr(), p.eps));
  return y;
}

BatchNormGrads batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_inv_std,
                                  const BatchNormParams& p) {
  detail::check_cuda_float(x, kBnBackward, "x");
  detail::check_cuda_float(dy, kBnBackward, "dy");
  check_shape(dy, x.shape(), kBnBackward, "dy");
  const BnDescriptors d = bn_descriptors(x, kBnBackward);
  check_same_device_dtype(x, {&dy}, kBnBackward);
  check_bn_params(x, {&gamma, &save_mean, &save_inv_std}, kBnBackward);
  BatchNormGrads g;
  g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  g.dgamma = Tensor::empty({x.size(1)}, x.dtype(), x.device());
  g.dbeta = Tensor::empty({x.size(1)}, x.dtype(), x.device());
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const void* one = detail::one(x.dtype());
  const void* zero = detail::zero(x.dtype());
  CUDANET_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      detail::handle(stream), CUDNN_BATCHNORM_SPATIAL, one, zero, one, zero, d.x.get(),
      x.data_ptr(), d.x.get(), dy.data_ptr(), d.x.get(), g.dx.data_ptr(), d.params.get(),
      gamma.data_ptr(), g.dgamma.data_ptr(), g.dbeta.data_ptr(), p.eps, save_mean.data_ptr(),
      save_inv_std.data_ptr()));
  return g;
}

}  // namespace cudanet::kernels::cudnn
