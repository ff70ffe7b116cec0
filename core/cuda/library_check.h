// Checks for cuBLAS and cuDNN calls (internal). Include only where those libraries are used.
//
//   CUDANET_CUBLAS_CHECK(cublasSgemm(...));
//   CUDANET_CUDNN_CHECK(cudnnConvolutionForward(...));
#pragma once

#include "core/error.h"

#define CUDANET_CUBLAS_CHECK(expr)                                                            \
  do {                                                                                        \
    const cublasStatus_t cudanet_status_ = (expr);                                            \
    if (cudanet_status_ != CUBLAS_STATUS_SUCCESS) {                                           \
      throw ::cudanet::CudaError(                                                             \
          ::cudanet::detail::str("cuBLAS error ", cublasGetStatusName(cudanet_status_), " (", \
                                 cublasGetStatusString(cudanet_status_), ") in ", #expr),     \
          __FILE__, __LINE__, static_cast<int>(cudanet_status_));                             \
    }                                                                                         \
  } while (0)

// cuDNN 9 keeps a per-thread message saying *why* a call failed (which descriptor or parameter it
// rejected); it goes into the exception, since a bare CUDNN_STATUS_BAD_PARAM costs a GPU session
// to pin down. (The build accepts cuDNN 9 only: cmake/CudanetCuda.cmake.)
#define CUDANET_CUDNN_CHECK(expr)                                                              \
  do {                                                                                         \
    const cudnnStatus_t cudanet_status_ = (expr);                                              \
    if (cudanet_status_ != CUDNN_STATUS_SUCCESS) {                                             \
      char cudanet_why_[512] = {0};                                                            \
      cudnnGetLastErrorString(cudanet_why_, sizeof(cudanet_why_));                             \
      throw ::cudanet::CudaError(                                                              \
          ::cudanet::detail::str("cuDNN error ", cudnnGetErrorString(cudanet_status_), " in ", \
                                 #expr, cudanet_why_[0] != '\0' ? ": " : "", cudanet_why_),    \
          __FILE__, __LINE__, static_cast<int>(cudanet_status_));                              \
    }                                                                                          \
  } while (0)
