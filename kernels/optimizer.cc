// Fused optimizer updates: argument checks, the step's scalars, and device dispatch.
#include "kernels/optimizer.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

// A finite value >= 0 (or > 0 with strict).
void check_nonnegative(double v, const char* op, const char* name, bool strict = false) {
  CUDANET_CHECK(std::isfinite(v) && (strict ? v > 0 : v >= 0), ValueError, op, ": ", name,
                strict ? " must be > 0" : " must be >= 0", ", got ", v);
}

// A state tensor: float, contiguous, param's shape, device and dtype.
void check_like_param(const Tensor& param, const Tensor& t, const char* op, const char* name) {
  check_float_input(t, op, name);
  check_shape(t, param.shape(), op, name);
  check_same_device_dtype(param, {&t}, op);
}

}  // namespace

void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf, const SgdParams& p) {
  const char* op = "sgd_update";
  check_float_input(param, op, "param");
  check_like_param(param, grad, op, "grad");
  check_nonnegative(p.lr, op, "lr");
  check_nonnegative(p.momentum, op, "momentum");
  check_nonnegative(p.weight_decay, op, "weight_decay");
  check_nonnegative(p.l1, op, "l1");
  CUDANET_CHECK(!p.nesterov || p.momentum > 0, ValueError, op,
                ": nesterov needs momentum > 0, got momentum ", p.momentum);
  const bool use_momentum = p.momentum > 0;
  if (use_momentum) {
    CUDANET_CHECK(momentum_buf != nullptr, ValueError, op, ": momentum ", p.momentum,
                  " needs a momentum buffer");
    check_like_param(param, *momentum_buf, op, "momentum_buf");
  }
  if (param.numel() == 0) return;
  if (param.device().is_cpu()) {
    dispatch_float(param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::sgd_update(param.data<T>(), grad.data<T>(),
                      use_momentum ? momentum_buf->data<T>() : nullptr, param.numel(), p);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::sgd_update(param.data_ptr(), grad.data_ptr(),
                     use_momentum ? momentum_buf->data_ptr() : nullptr, param.numel(), p,
                     param.dtype(), current_stream(param.device()));
#else
    throw_no_cuda(op);
#endif
  }
}

AdamCoefficients adam_coefficients(const AdamParams& p, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1 - std::pow(p.beta1, t);
  const double bias_correction2 = 1 - std::pow(p.beta2, t);
  AdamCoefficients c{};
  c.beta1 = p.beta1;
  c.beta2 = p.beta2;
  c.eps = p.eps;
  c.weight_decay = p.decoupled ? 0.0 : p.weight_decay;
  c.decay = p.decoupled ? 1 - p.lr * p.weight_decay : 1.0;
  c.step_size = p.lr / bias_correction1;
  c.sqrt_bias_correction2 = std::sqrt(bias_correction2);
  return c;
}

void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p,
                 std::int64_t step) {
  const char* op = p.decoupled ? "adamw_update" : "adam_update";
  check_float_input(param, op, "param");
  check_like_param(param, grad, op, "grad");
  check_like_param(param, m, op, "m");
  check_like_param(param, v, op, "v");
  check_nonnegative(p.lr, op, "lr");
  CUDANET_CHECK(p.beta1 >= 0 && p.beta1 < 1, ValueError, op, ": beta1 must be in [0, 1), got ",
                p.beta1);
  CUDANET_CHECK(p.beta2 >= 0 && p.beta2 < 1, ValueError, op, ": beta2 must be in [0, 1), got ",
                p.beta2);
  check_nonnegative(p.eps, op, "eps", /*strict=*/true);
  check_nonnegative(p.weight_decay, op, "weight_decay");
  CUDANET_CHECK(step >= 1, ValueError, op, ": step must be >= 1 (1 for the first update), got ",
                step);
  if (param.numel() == 0) return;
  const AdamCoefficients c = adam_coefficients(p, step);
  if (param.device().is_cpu()) {
    dispatch_float(param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::adam_update(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(), c);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::adam_update(param.data_ptr(), grad.data_ptr(), m.data_ptr(), v.data_ptr(), param.numel(),
                      c, param.dtype(), current_stream(param.device()));
#else
    throw_no_cuda(op);
#endif
  }
}

}  // namespace cudanet::kernels
