// Softmax family: argument checks and device dispatch.
#include "kernels/softmax.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

// Calls f(float{}) or f(double{}) for a float32 / float64 dtype.
void check_logits(const Tensor& x, const char* op, const char* name) {
  check_float_input(x, op, name);
  check_dims(x, 2, op, name);
  check_positive(x.size(0), op, "rows (N)");
  check_positive(x.size(1), op, "classes (C)");
}

// Labels: int64 [N], contiguous, on the logits' device, each in [0, C). GPU labels are copied to
// the host for the check, before anything is computed.
void check_labels(const Tensor& labels, const Tensor& logits, const char* op) {
  CUDANET_CHECK(labels.defined(), ValueError, op, ": labels are undefined");
  CUDANET_CHECK(labels.dtype() == DType::kInt64, ValueError, op, ": labels have dtype ",
                labels.dtype(), "; int64 is needed");
  CUDANET_CHECK(labels.device() == logits.device(), ValueError, op, ": labels on ", labels.device(),
                " but logits on ", logits.device());
  CUDANET_CHECK(labels.is_contiguous(), ValueError, op, ": labels are not contiguous");
  check_shape(labels, {logits.size(0)}, op, "labels");
  // A step being captured as a CUDA graph cannot read the labels on the host, and its replays
  // check nothing: there the CUDA kernel turns a label outside [0, C) into a NaN loss instead.
  if (labels.device().is_cuda() && current_stream(labels.device()).is_capturing()) return;
  const std::int64_t classes = logits.size(1);
  const Tensor host = labels.to(Device::cpu()).contiguous();
  const std::int64_t* l = host.data<std::int64_t>();
  for (std::int64_t n = 0; n < host.numel(); ++n) {
    CUDANET_CHECK(l[n] >= 0 && l[n] < classes, ValueError, op, ": label ", l[n], " at index ", n,
                  " is outside [0, ", classes, ")");
  }
}

Tensor softmax_impl(const Tensor& x, bool log, const char* op) {
  check_logits(x, op, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const std::int64_t rows = x.size(0), cols = x.size(1);
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_forward(x.data<T>(), y.data<T>(), rows, cols, log);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::softmax_forward(x.data_ptr(), y.data_ptr(), rows, cols, log, x.dtype(),
                          current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return y;
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, bool log, const char* op) {
  check_logits(y, op, "y");
  check_float_input(dy, op, "dy");
  check_shape(dy, y.shape(), op, "dy");
  check_same_device_dtype(y, {&dy}, op);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  const std::int64_t rows = y.size(0), cols = y.size(1);
  if (y.device().is_cpu()) {
    dispatch_float(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_backward(y.data<T>(), dy.data<T>(), dx.data<T>(), rows, cols, log);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::softmax_backward(y.data_ptr(), dy.data_ptr(), dx.data_ptr(), rows, cols, log, y.dtype(),
                           current_stream(y.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return dx;
}

}  // namespace

Tensor softmax_forward(const Tensor& x) {
  return softmax_impl(x, false, "softmax_forward");
}
Tensor log_softmax_forward(const Tensor& x) {
  return softmax_impl(x, true, "log_softmax_forward");
}
Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  return softmax_backward_impl(y, dy, false, "softmax_backward");
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy) {
  return softmax_backward_impl(y, dy, true, "log_softmax_backward");
}

Tensor softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     Tensor* probs_out) {
  const char* op = "softmax_cross_entropy_forward";
  check_logits(logits, op, "logits");
  check_labels(labels, logits, op);
  const std::int64_t rows = logits.size(0), cols = logits.size(1);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor probs;
  if (probs_out != nullptr) probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  if (logits.device().is_cpu()) {
    dispatch_float(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_cross_entropy_forward(logits.data<T>(), labels.data<std::int64_t>(),
                                         probs.defined() ? probs.data<T>() : nullptr,
                                         loss.data<T>(), rows, cols);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::softmax_cross_entropy_forward(logits.data_ptr(), labels.data<std::int64_t>(),
                                        probs.defined() ? probs.data_ptr() : nullptr,
                                        loss.data_ptr(), rows, cols, logits.dtype(),
                                        current_stream(logits.device()));
#else
    throw_no_cuda(op);
#endif
  }
  if (probs_out != nullptr) *probs_out = probs;
  return loss;
}

Tensor softmax_cross_entropy_backward(const Tensor& logits_or_probs, const Tensor& labels,
                                      double grad_scale, bool from_logits) {
  const char* op = "softmax_cross_entropy_backward";
  check_logits(logits_or_probs, op, from_logits ? "logits" : "probs");
  check_labels(labels, logits_or_probs, op);
  CUDANET_CHECK(std::isfinite(grad_scale), ValueError, op, ": grad_scale must be finite, got ",
                grad_scale);
  const Tensor probs = from_logits ? softmax_forward(logits_or_probs) : logits_or_probs;
  const std::int64_t rows = probs.size(0), cols = probs.size(1);
  Tensor dx = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
  if (probs.device().is_cpu()) {
    dispatch_float(probs.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_cross_entropy_backward(probs.data<T>(), labels.data<std::int64_t>(),
                                          dx.data<T>(), rows, cols, grad_scale);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::softmax_cross_entropy_backward(probs.data_ptr(), labels.data<std::int64_t>(),
                                         dx.data_ptr(), rows, cols, grad_scale, probs.dtype(),
                                         current_stream(probs.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
