// Dropout: argument checks and device dispatch (see kernels/dropout.h).
#include "kernels/dropout.h"

#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

void check_p(double p, const char* op) {
  CUDANET_CHECK(p >= 0.0 && p < 1.0, ValueError, op, ": p must be in [0, 1), got ", p);
}

}  // namespace

DropoutResult dropout_forward(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset,
                              bool store_mask) {
  constexpr const char* kOp = "dropout_forward";
  check_p(p, kOp);
  check_float_input(x, kOp, "x");
  const double keep_prob = 1.0 - p;
  const double scale = 1.0 / keep_prob;
  DropoutResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
                  store_mask ? Tensor::empty(x.shape(), DType::kUInt8, x.device()) : Tensor(), seed,
                  offset};
  std::uint8_t* mask = store_mask ? r.mask.data<std::uint8_t>() : nullptr;
  if (x.device().is_cpu()) {
    if (x.dtype() == DType::kFloat32) {
      cpu::dropout_forward<float>(x.data<float>(), r.y.data<float>(), mask, x.numel(), keep_prob,
                                  static_cast<float>(scale), seed, offset);
    } else {
      cpu::dropout_forward<double>(x.data<double>(), r.y.data<double>(), mask, x.numel(), keep_prob,
                                   scale, seed, offset);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_forward(x.data_ptr(), r.y.data_ptr(), mask, x.numel(), keep_prob, scale, seed,
                          offset, x.dtype(), current_stream(x.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return r;
}

DropoutResult dropout_forward(const Tensor& x, double p, Generator& generator, bool store_mask) {
  // Check before advancing, so a rejected call leaves the generator alone.
  check_p(p, "dropout_forward");
  check_float_input(x, "dropout_forward", "x");
  const GeneratorState s = generator.advance(philox_counters(DType::kFloat32, x.numel()));
  return dropout_forward(x, p, s.seed, s.offset, store_mask);
}

Tensor dropout_backward(const Tensor& dy, const Tensor& mask, double p) {
  constexpr const char* kOp = "dropout_backward";
  check_p(p, kOp);
  check_float_input(dy, kOp, "dy");
  CUDANET_CHECK(mask.defined(), ValueError, kOp, ": mask is undefined");
  CUDANET_CHECK(mask.dtype() == DType::kUInt8, ValueError, kOp, ": mask has dtype ", mask.dtype(),
                "; uint8 is needed");
  CUDANET_CHECK(mask.is_contiguous(), ValueError, kOp, ": mask is not contiguous");
  CUDANET_CHECK(mask.device() == dy.device(), ValueError, kOp, ": tensors on different devices (",
                dy.device(), " and ", mask.device(), ")");
  check_shape(mask, dy.shape(), kOp, "mask");
  const double scale = 1.0 / (1.0 - p);
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    if (dy.dtype() == DType::kFloat32) {
      cpu::dropout_backward<float>(dy.data<float>(), mask.data<std::uint8_t>(), dx.data<float>(),
                                   dy.numel(), static_cast<float>(scale));
    } else {
      cpu::dropout_backward<double>(dy.data<double>(), mask.data<std::uint8_t>(), dx.data<double>(),
                                    dy.numel(), scale);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_backward(dy.data_ptr(), mask.data<std::uint8_t>(), dx.data_ptr(), dy.numel(),
                           scale, dy.dtype(), current_stream(dy.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

Tensor dropout_backward(const Tensor& dy, double p, std::uint64_t seed, std::uint64_t offset) {
  constexpr const char* kOp = "dropout_backward";
  check_p(p, kOp);
  check_float_input(dy, kOp, "dy");
  const double keep_prob = 1.0 - p;
  const double scale = 1.0 / keep_prob;
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    if (dy.dtype() == DType::kFloat32) {
      cpu::dropout_backward<float>(dy.data<float>(), dx.data<float>(), dy.numel(), keep_prob,
                                   static_cast<float>(scale), seed, offset);
    } else {
      cpu::dropout_backward<double>(dy.data<double>(), dx.data<double>(), dy.numel(), keep_prob,
                                    scale, seed, offset);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_backward(dy.data_ptr(), dx.data_ptr(), dy.numel(), keep_prob, scale, seed, offset,
                           dy.dtype(), current_stream(dy.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
