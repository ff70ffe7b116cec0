// Shared argument checks and switches of the kernels/ ops.
//
// Note: every op checks its arguments before any kernel launches and throws ShapeError or
// ValueError naming the op, the argument and the offending values. Ops take float32 or float64
// tensors (labels: int64) that are contiguous and on one device; the result is on that device.
#pragma once

#include <initializer_list>
#include <string>

#include "core/tensor.h"

namespace cudanet::kernels {

// Throws ValueError unless `t` is defined, contiguous and float32/float64.
void check_float_input(const Tensor& t, const char* op, const char* name);
// Throws ShapeError unless `t` has `dims` dimensions.
void check_dims(const Tensor& t, std::int64_t dims, const char* op, const char* name);
// Throws ShapeError unless `t` has exactly `shape`.
void check_shape(const Tensor& t, const Shape& shape, const char* op, const char* name);
// Throws ValueError unless every tensor is on `ref`'s device with `ref`'s dtype.
void check_same_device_dtype(const Tensor& ref, std::initializer_list<const Tensor*> others,
                             const char* op);
// Throws ValueError unless `value` > 0 (or >= 0 with allow_zero).
void check_positive(std::int64_t value, const char* op, const char* name, bool allow_zero = false);

// Calls f(float{}) or f(double{}) for a float32 / float64 dtype (checked by check_float_input).
template <typename F>
void dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::kFloat32) {
    f(float{});
  } else {
    f(double{});
  }
}

// Throws CudaError: `op` was given CUDA tensors, but this library was built without CUDA.
[[noreturn]] void throw_no_cuda(const char* op);

// Deterministic mode: reductions in backward passes (bias and filter gradients, pooling backward)
// avoid atomics so two runs give bitwise-identical results. Off by default; the environment
// variable CUDANET_DETERMINISTIC=1 turns it on at start-up.
void set_deterministic(bool on);
bool deterministic();

}  // namespace cudanet::kernels
