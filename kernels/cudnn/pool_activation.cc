// Pooling and activations on cuDNN. Shapes are checked with the native ops' geometry functions.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/cudnn/common.h"

namespace cudanet::kernels::cudnn {

namespace {

constexpr const char* kPoolForward = "cudnn::pool2d_forward";
constexpr const char* kPoolBackward = "cudnn::pool2d_backward";
constexpr const char* kActForward = "cudnn::activation_forward";
constexpr const char* kActBackward = "cudnn::activation_backward";

detail::PoolingDescriptor pooling(PoolKind kind, const Pool2dGeometry& g, const char* op) {
  cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
  if (kind == PoolKind::kMax && deterministic()) mode = CUDNN_POOLING_MAX_DETERMINISTIC;
  if (kind == PoolKind::kAvg) {
    mode = g.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                               : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  }
  detail::PoolingDescriptor d;
  // NaN propagates, as in the native kernels.
  CUDANET_CUDNN_CHECK(cudnnSetPooling2dDescriptor(
      d.get(), mode, CUDNN_PROPAGATE_NAN, detail::to_int(g.kernel_h, op),
      detail::to_int(g.kernel_w, op), detail::to_int(g.pad_h, op), detail::to_int(g.pad_w, op),
      detail::to_int(g.stride_h, op), detail::to_int(g.stride_w, op)));
  return d;
}

// Elementwise ops see the tensor as [1, 1, 1, numel].
detail::TensorDescriptor flat(const Tensor& t, const char* op) {
  return detail::tensor_4d(1, 1, 1, t.numel(), t.dtype(), op);
}

detail::ActivationDescriptor activation(Activation kind, const char* op) {
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
  switch (kind) {
    case Activation::kReLU:
      mode = CUDNN_ACTIVATION_RELU;
      break;
    case Activation::kSigmoid:
      mode = CUDNN_ACTIVATION_SIGMOID;
      break;
    case Activation::kTanh:
      mode = CUDNN_ACTIVATION_TANH;
      break;
    case Activation::kLeakyReLU:
      CUDANET_THROW(ValueError, op, ": cuDNN has no ", activation_name(kind),
                    "; use the native kernels");
  }
  detail::ActivationDescriptor d;
  CUDANET_CUDNN_CHECK(cudnnSetActivationDescriptor(d.get(), mode, CUDNN_PROPAGATE_NAN, 0.0));
  return d;
}

}  // namespace

Shape pool2d_output_shape(PoolKind kind, const Shape& x_shape, const Pool2dParams& p) {
  constexpr const char* kOp = "cudnn::pool2d_output_shape";
  const Pool2dGeometry g = pool2d_geometry(x_shape, p, kOp);
  const detail::PoolingDescriptor pd = pooling(kind, g, kOp);
  const detail::TensorDescriptor xd =
      detail::tensor_4d(g.n, g.c, g.in_h, g.in_w, DType::kFloat32, kOp);
  int n = 0, c = 0, h = 0, w = 0;
  CUDANET_CUDNN_CHECK(cudnnGetPooling2dForwardOutputDim(pd.get(), xd.get(), &n, &c, &h, &w));
  return {n, c, h, w};
}

Tensor pool2d_forward(PoolKind kind, const Tensor& x, const Pool2dParams& p) {
  detail::check_cuda_float(x, kPoolForward, "x");
  const Pool2dGeometry g = pool2d_geometry(x.shape(), p, kPoolForward);
  Tensor y = Tensor::empty({g.n, g.c, g.out_h, g.out_w}, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const detail::PoolingDescriptor pd = pooling(kind, g, kPoolForward);
  const detail::TensorDescriptor xd =
      detail::tensor_4d(g.n, g.c, g.in_h, g.in_w, x.dtype(), kPoolForward);
  const detail::TensorDescriptor yd =
      detail::tensor_4d(g.n, g.c, g.out_h, g.out_w, x.dtype(), kPoolForward);
  CUDANET_CUDNN_CHECK(cudnnPoolingForward(detail::handle(stream), pd.get(), detail::one(x.dtype()),
                                          xd.get(), x.data_ptr(), detail::zero(x.dtype()), yd.get(),
                                          y.data_ptr()));
  return y;
}

Tensor pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& x, const Tensor& y,
                       const Pool2dParams& p) {
  detail::check_cuda_float(dy, kPoolBackward, "dy");
  detail::check_cuda_float(x, kPoolBackward, "x");
  detail::check_cuda_float(y, kPoolBackward, "y");
  check_same_device_dtype(dy, {&x, &y}, kPoolBackward);
  const Pool2dGeometry g = pool2d_geometry(x.shape(), p, kPoolBackward);
  const Shape y_shape{g.n, g.c, g.out_h, g.out_w};
  check_shape(y, y_shape, kPoolBackward, "y");
  check_shape(dy, y_shape, kPoolBackward, "dy");
  Tensor dx = Tensor::empty(x.shape(), dy.dtype(), dy.device());
  if (dx.numel() == 0) return dx;
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::PoolingDescriptor pd = pooling(kind, g, kPoolBackward);
  const detail::TensorDescriptor xd =
      detail::tensor_4d(g.n, g.c, g.in_h, g.in_w, x.dtype(), kPoolBackward);
  const detail::TensorDescriptor yd =
      detail::tensor_4d(g.n, g.c, g.out_h, g.out_w, x.dtype(), kPoolBackward);
  CUDANET_CUDNN_CHECK(cudnnPoolingBackward(
      detail::handle(stream), pd.get(), detail::one(dy.dtype()), yd.get(), y.data_ptr(), yd.get(),
      dy.data_ptr(), xd.get(), x.data_ptr(), detail::zero(dy.dtype()), xd.get(), dx.data_ptr()));
  return dx;
}

bool supports(Activation kind) {
  return kind == Activation::kReLU || kind == Activation::kSigmoid || kind == Activation::kTanh;
}

Tensor activation_forward(Activation kind, const Tensor& x) {
  detail::check_cuda_float(x, kActForward, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return y;
  const detail::ActivationDescriptor ad = activation(kind, kActForward);
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const detail::TensorDescriptor d = flat(x, kActForward);
  CUDANET_CUDNN_CHECK(cudnnActivationForward(detail::handle(stream), ad.get(),
                                             detail::one(x.dtype()), d.get(), x.data_ptr(),
                                             detail::zero(x.dtype()), d.get(), y.data_ptr()));
  return y;
}

Tensor activation_backward(Activation kind, const Tensor& dy, const Tensor& x, const Tensor& y) {
  detail::check_cuda_float(dy, kActBackward, "dy");
  detail::check_cuda_float(x, kActBackward, "x");
  detail::check_cuda_float(y, kActBackward, "y");
  check_same_device_dtype(dy, {&x, &y}, kActBackward);
  check_shape(x, dy.shape(), kActBackward, "x");
  check_shape(y, dy.shape(), kActBackward, "y");
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.numel() == 0) return dx;
  const detail::ActivationDescriptor ad = activation(kind, kActBackward);
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::TensorDescriptor d = flat(dy, kActBackward);
  CUDANET_CUDNN_CHECK(cudnnActivationBackward(
      detail::handle(stream), ad.get(), detail::one(dy.dtype()), d.get(), y.data_ptr(), d.get(),
      dy.data_ptr(), d.get(), x.data_ptr(), detail::zero(dy.dtype()), d.get(), dx.data_ptr()));
  return dx;
}

}  // namespace cudanet::kernels::cudnn
