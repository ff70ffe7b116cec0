// Batch normalisation: argument checks and device dispatch.
#include "kernels/batchnorm.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

// Checks x (2-D or 4-D, non-empty) and returns its [N, C, S] geometry.
BatchNormGeometry geometry_of(const Tensor& x, const char* op) {
  check_float_input(x, op, "x");
  CUDANET_CHECK(x.dim() == 2 || x.dim() == 4, ShapeError, op,
                ": x must be [N, C] or [N, C, H, W], got shape ", shape_str(x.shape()));
  CUDANET_CHECK(x.numel() > 0, ShapeError, op, ": x of shape ", shape_str(x.shape()),
                " has no elements");
  const std::int64_t s = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  return {x.size(0), x.size(1), s};
}

// Each named tensor: float, contiguous, [C], on x's device with x's dtype.
void check_channel_vectors(const Tensor& x,
                           std::initializer_list<std::pair<const Tensor*, const char*>> vs,
                           const char* op) {
  for (const auto& [t, name] : vs) {
    check_float_input(*t, op, name);
    check_shape(*t, {x.size(1)}, op, name);
    check_same_device_dtype(x, {t}, op);
  }
}

void check_eps(const BatchNormParams& p, const char* op) {
  CUDANET_CHECK(std::isfinite(p.eps) && p.eps > 0, ValueError, op, ": eps must be > 0, got ",
                p.eps);
}

}  // namespace

Tensor batchnorm_forward_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor* running_mean, Tensor* running_var,
                                  const BatchNormParams& p, Tensor* save_mean,
                                  Tensor* save_inv_std) {
  const char* op = "batchnorm_forward_training";
  const BatchNormGeometry g = geometry_of(x, op);
  check_channel_vectors(x, {{&gamma, "gamma"}, {&beta, "beta"}}, op);
  check_eps(p, op);
  CUDANET_CHECK(p.momentum >= 0 && p.momentum <= 1, ValueError, op,
                ": momentum must be in [0, 1], got ", p.momentum);
  CUDANET_CHECK((running_mean == nullptr) == (running_var == nullptr), ValueError, op,
                ": pass both running_mean and running_var, or neither");
  const bool track = running_mean != nullptr;
  if (track) {
    check_channel_vectors(x, {{running_mean, "running_mean"}, {running_var, "running_var"}}, op);
  }
  CUDANET_CHECK(g.n * g.s > 1, ValueError, op,
                ": training needs more than one value per channel, "
                "got input of shape ",
                shape_str(x.shape()));

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({g.c}, x.dtype(), x.device());
  Tensor inv_std = Tensor::empty({g.c}, x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::batchnorm_forward_training(x.data<T>(), gamma.data<T>(), beta.data<T>(), y.data<T>(),
                                      track ? running_mean->data<T>() : nullptr,
                                      track ? running_var->data<T>() : nullptr, mean.data<T>(),
                                      inv_std.data<T>(), g, p.eps, p.momentum);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::batchnorm_forward_training(x.data_ptr(), gamma.data_ptr(), beta.data_ptr(), y.data_ptr(),
                                     track ? running_mean->data_ptr() : nullptr,
                                     track ? running_var->data_ptr() : nullptr, mean.data_ptr(),
                                     inv_std.data_ptr(), g, p.eps, p.momentum, x.dtype(),
                                     current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  if (save_mean != nullptr) *save_mean = mean;
  if (save_inv_std != nullptr) *save_inv_std = inv_std;
  return y;
}

Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   const BatchNormParams& p) {
  const char* op = "batchnorm_forward_inference";
  const BatchNormGeometry g = geometry_of(x, op);
  check_channel_vectors(x,
                        {{&gamma, "gamma"},
                         {&beta, "beta"},
                         {&running_mean, "running_mean"},
                         {&running_var, "running_var"}},
                        op);
  check_eps(p, op);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::batchnorm_forward_inference(x.data<T>(), gamma.data<T>(), beta.data<T>(),
                                       running_mean.data<T>(), running_var.data<T>(), y.data<T>(),
                                       g, p.eps);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::batchnorm_forward_inference(x.data_ptr(), gamma.data_ptr(), beta.data_ptr(),
                                      running_mean.data_ptr(), running_var.data_ptr(), y.data_ptr(),
                                      g, p.eps, x.dtype(), current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return y;
}

BatchNormGrads batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_inv_std) {
  const char* op = "batchnorm_backward";
  const BatchNormGeometry g = geometry_of(x, op);
  check_float_input(dy, op, "dy");
  check_shape(dy, x.shape(), op, "dy");
  check_same_device_dtype(x, {&dy}, op);
  check_channel_vectors(
      x, {{&gamma, "gamma"}, {&save_mean, "save_mean"}, {&save_inv_std, "save_inv_std"}}, op);
  BatchNormGrads out{Tensor::empty(x.shape(), x.dtype(), x.device()),
                     Tensor::empty({g.c}, x.dtype(), x.device()),
                     Tensor::empty({g.c}, x.dtype(), x.device())};
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::batchnorm_backward(x.data<T>(), dy.data<T>(), gamma.data<T>(), save_mean.data<T>(),
                              save_inv_std.data<T>(), out.dx.data<T>(), out.dgamma.data<T>(),
                              out.dbeta.data<T>(), g);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::batchnorm_backward(x.data_ptr(), dy.data_ptr(), gamma.data_ptr(), save_mean.data_ptr(),
                             save_inv_std.data_ptr(), out.dx.data_ptr(), out.dgamma.data_ptr(),
                             out.dbeta.data_ptr(), g, x.dtype(), current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return out;
}

}  // namespace cudanet::kernels
