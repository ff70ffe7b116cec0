// Dropout with inverted scaling, its mask drawn from Philox so CPU and GPU masks are identical.
//
//   keep_i = bernoulli(seed, offset, i, 1 - p)      (core/philox.h)
//          = uniform_float(seed, offset, i) < 1 - p  (1 - p computed in double)
//   mask_i = keep_i ? 1 : 0                           (uint8)
//   y_i    = keep_i ? x_i * scale : 0,                scale = T(1 / (1 - p)) (computed in double)
//   dx_i   = mask_i ? dy_i * scale : 0
//
// So the mask is the one Tensor::bernoulli_(1 - p) would draw with the same (seed, offset), for
// any dtype, on either device: element i depends only on (seed, offset, i). The keep probability
// is 1 - p rounded up to a multiple of 2^-24. p must lie in [0, 1); p = 0 keeps everything
// (y = x). A draw reads ceil(n / 4) Philox counters: the Generator overload advances its
// generator by philox_counters(DType::kFloat32, n) (also for p = 0 and for float64 tensors), so
// consecutive calls never reuse random numbers.
//
// Note: CPU and GPU agree bitwise on the mask and, since y is one rounded multiplication, on y and
// dx as well.
#pragma once

#include <cstdint>

#include "core/random.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct DropoutResult {
  Tensor y;
  Tensor mask;  // uint8, shaped like x: 1 kept, 0 dropped
};

// ---- Tensor level: x of any shape, contiguous, float32 or float64 ----
DropoutResult dropout_forward(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset);
DropoutResult dropout_forward(const Tensor& x, double p, Generator& generator);
Tensor dropout_backward(const Tensor& dy, const Tensor& mask, double p);

namespace cpu {
// The reference, instantiated for float and double: n elements, scale = T(1 / (1 - p)).
template <typename T>
void dropout_forward(const T* x, T* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     T scale, std::uint64_t seed, std::uint64_t offset);
template <typename T>
void dropout_backward(const T* dy, const std::uint8_t* mask, T* dx, std::int64_t n, T scale);
}  // namespace cpu

namespace cuda {
// Device pointers on stream.device(); work queued on `stream`. dtype: float32 or float64;
// scale is converted to it.
void dropout_forward(const void* x, void* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     double scale, std::uint64_t seed, std::uint64_t offset, DType dtype,
                     const Stream& stream);
void dropout_backward(const void* dy, const std::uint8_t* mask, void* dx, std::int64_t n,
                      double scale, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
