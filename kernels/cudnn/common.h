// Internal to kernels/cudnn/: the handle cache, RAII descriptors and small helpers shared by the
// cuDNN ops. Include only from kernels/cudnn/*.cc (it includes cudnn.h).
//
// Note: deprecation. cuDNN 9 marks the descriptor API deprecated (CUDNN_DEPRECATED, which warns
// when CUDNN_WARN_DEPRECATED is defined, as kernels/CMakeLists.txt does for these files so that
// no other file starts using it unnoticed). This backend uses that API on purpose (see
// kernels/cudnn.h), so this header, included only by kernels/cudnn/*.cc, silences
// -Wdeprecated-declarations for those files (before cudnn.h, whose own declarations use the
// deprecated types); nothing else is silenced.
#pragma once

#include <climits>
#include <cstdint>
#include <utility>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <cudnn.h>

#include "core/cuda/library_check.h"
#include "core/error.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels::cudnn::detail {

// The calling thread's handle for `stream` (created and bound on first use).
cudnnHandle_t handle(const Stream& stream);

// cuDNN takes int sizes: ValueError naming `op` when a size does not fit.
inline int to_int(std::int64_t v, const char* op) {
  CUDANET_CHECK(v >= 0 && v <= INT_MAX, ValueError, op, ": size ", v,
                " is too large for cuDNN (int)");
  return static_cast<int>(v);
}

inline cudnnDataType_t data_type(DType dtype) {
  return dtype == DType::kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

// Blend factors: cuDNN reads alpha and beta as double for double tensors, float otherwise.
inline const void* one(DType dtype) {
  static const float f = 1.0f;
  static const double d = 1.0;
  return dtype == DType::kFloat64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f);
}
inline const void* zero(DType dtype) {
  static const float f = 0.0f;
  static const double d = 0.0;
  return dtype == DType::kFloat64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f);
}

// Throws ValueError unless `t` is a contiguous float32/float64 CUDA tensor.
void check_cuda_float(const Tensor& t, const char* op, const char* name);

// A move-only owner of one cuDNN descriptor.
template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class Descriptor {
 public:
  Descriptor() { CUDANET_CUDNN_CHECK(Create(&d_)); }
  ~Descriptor() {
    if (d_ != nullptr) (void)Destroy(d_);  // cannot fail for a valid descriptor
  }
  Descriptor(Descriptor&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Descriptor& operator=(Descriptor&& o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  T get() const { return d_; }

 private:
  T d_ = nullptr;
};

using TensorDescriptor =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
               cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor = Descriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor,
                                     cudnnDestroyPoolingDescriptor>;
using ActivationDescriptor =
    Descriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
               cudnnDestroyActivationDescriptor>;
using LrnDescriptor =
    Descriptor<cudnnLRNDescriptor_t, cudnnCreateLRNDescriptor, cudnnDestroyLRNDescriptor>;

// A fully packed NCHW tensor descriptor.
TensorDescriptor tensor_4d(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                           DType dtype, const char* op);

}  // namespace cudanet::kernels::cudnn::detail
