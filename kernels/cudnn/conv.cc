// Convolution on cuDNN: forward (+ bias), backward-data, backward-filter, bias gradient.
// Arguments are checked exactly as by kernels/conv2d.cc (conv2d_geometry) before cuDNN runs.
#include <cstdint>

#include "core/cuda_runtime.h"
#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/cudnn/conv_algo.h"

namespace cudanet::kernels::cudnn {

namespace {

using detail::AlgoChoice;
using detail::Pass;

constexpr const char* kForward = "cudnn::conv2d_forward";
constexpr const char* kBackwardData = "cudnn::conv2d_backward_data";
constexpr const char* kBackwardFilter = "cudnn::conv2d_backward_filter";
constexpr const char* kBackwardBias = "cudnn::conv2d_backward_bias";

// The workspace of a chosen algorithm, from the caching allocator on the current stream (freed
// after the call; the allocator keeps it for the next one).
Tensor workspace(const AlgoChoice& c, Device device) {
  return c.workspace > 0
             ? Tensor::empty({static_cast<std::int64_t>(c.workspace)}, DType::kUInt8, device)
             : Tensor();
}

void* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

}  // namespace

Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p) {
  constexpr const char* kOp = "cudnn::conv2d_output_shape";
  const Conv2dGeometry g = conv2d_geometry(x_shape, w_shape, p, kOp);
  const detail::ConvDescriptors d = detail::describe(g, DType::kFloat32, kOp);
  int n = 0, k = 0, h = 0, w = 0;
  CUDANET_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(d.conv.get(), d.x.get(), d.w.get(), &n, &k, &h, &w));
  return {n, k, h, w};
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p) {
  detail::check_cuda_float(x, kForward, "x");
  detail::check_cuda_float(w, kForward, "w");
  check_same_device_dtype(x, {&w, bias}, kForward);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w.shape(), p, kForward);
  if (bias != nullptr) {
    detail::check_cuda_float(*bias, kForward, "bias");
    check_shape(*bias, {g.k}, kForward, "bias");
  }
  Tensor y = Tensor::empty(g.y_shape(), x.dtype(), x.device());
  const Stream stream = current_stream(x.device());
  ::cudanet::cuda::DeviceGuard guard(x.device().index());
  const detail::ConvDescriptors d = detail::describe(g, x.dtype(), kForward);
  const AlgoChoice c = detail::choose(Pass::kForward, g, x.dtype(), stream, d, x.data_ptr(),
                                      w.data_ptr(), y.data_ptr());
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), c.math));
  Tensor ws = workspace(c, x.device());
  cudnnHandle_t h = detail::handle(stream);
  CUDANET_CUDNN_CHECK(cudnnConvolutionForward(
      h, detail::one(x.dtype()), d.x.get(), x.data_ptr(), d.w.get(), w.data_ptr(), d.conv.get(),
      static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ptr(ws), c.workspace, detail::zero(x.dtype()),
      d.y.get(), y.data_ptr()));
  if (bias != nullptr) {
    const detail::TensorDescriptor b = detail::tensor_4d(1, g.k, 1, 1, x.dtype(), kForward);
    CUDANET_CUDNN_CHECK(cudnnAddTensor(h, detail::one(x.dtype()), b.get(), bias->data_ptr(),
                                       detail::one(x.dtype()), d.y.get(), y.data_ptr()));
  }
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p) {
  detail::check_cuda_float(dy, kBackwardData, "dy");
  detail::check_cuda_float(w, kBackwardData, "w");
  check_same_device_dtype(dy, {&w}, kBackwardData);
  const Conv2dGeometry g = conv2d_geometry(x_shape, w.shape(), p, kBackwardData);
  check_shape(dy, g.y_shape(), kBackwardData, "dy");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::ConvDescriptors d = detail::describe(g, dy.dtype(), kBackwardData);
  const AlgoChoice c = detail::choose(Pass::kBackwardData, g, dy.dtype(), stream, d, dy.data_ptr(),
                                      w.data_ptr(), dx.data_ptr());
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), c.math));
  Tensor ws = workspace(c, dy.device());
  CUDANET_CUDNN_CHECK(cudnnConvolutionBackwardData(
      detail::handle(stream), detail::one(dy.dtype()), d.w.get(), w.data_ptr(), d.y.get(),
      dy.data_ptr(), d.conv.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ptr(ws),
      c.workspace, detail::zero(dy.dtype()), d.x.get(), dx.data_ptr()));
  return dx;
}

Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p) {
  detail::check_cuda_float(dy, kBackwardFilter, "dy");
  detail::check_cuda_float(x, kBackwardFilter, "x");
  check_same_device_dtype(dy, {&x}, kBackwardFilter);
  const Conv2dGeometry g = conv2d_geometry(x.shape(), w_shape, p, kBackwardFilter);
  check_shape(dy, g.y_shape(), kBackwardFilter, "dy");
  Tensor dw = Tensor::empty(w_shape, dy.dtype(), dy.device());
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::ConvDescriptors d = detail::describe(g, dy.dtype(), kBackwardFilter);
  const AlgoChoice c = detail::choose(Pass::kBackwardFilter, g, dy.dtype(), stream, d,
                                      dy.data_ptr(), x.data_ptr(), dw.data_ptr());
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), c.math));
  Tensor ws = workspace(c, dy.device());
  CUDANET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      detail::handle(stream), detail::one(dy.dtype()), d.x.get(), x.data_ptr(), d.y.get(),
      dy.data_ptr(), d.conv.get(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ptr(ws),
      c.workspace, detail::zero(dy.dtype()), d.w.get(), dw.data_ptr()));
  return dw;
}

Tensor conv2d_backward_bias(const Tensor& dy) {
  detail::check_cuda_float(dy, kBackwardBias, "dy");
  check_dims(dy, 4, kBackwardBias, "dy");
  const std::int64_t n = dy.size(0), k = dy.size(1), h = dy.size(2), w = dy.size(3);
  Tensor db = Tensor::empty({k}, dy.dtype(), dy.device());
  const Stream stream = current_stream(dy.device());
  ::cudanet::cuda::DeviceGuard guard(dy.device().index());
  const detail::TensorDescriptor dyd = detail::tensor_4d(n, k, h, w, dy.dtype(), kBackwardBias);
  const detail::TensorDescriptor dbd = detail::tensor_4d(1, k, 1, 1, dy.dtype(), kBackwardBias);
  CUDANET_CUDNN_CHECK(cudnnConvolutionBackwardBias(
      detail::handle(stream), detail::one(dy.dtype()), dyd.get(), dy.data_ptr(),
      detail::zero(dy.dtype()), dbd.get(), db.data_ptr()));
  return db;
}

}  // namespace cudanet::kernels::cudnn
