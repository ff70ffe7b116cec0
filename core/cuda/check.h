// Checks for CUDA runtime calls and kernel launches (internal: includes the CUDA headers).
//
//   CUDANET_CUDA_CHECK(cudaMemcpyAsync(...));   // throws CudaError / OutOfMemoryError
//   kernel<<<grid, block, 0, stream>>>(...);
//   CUDANET_LAUNCH_CHECK();                      // after every launch
//   CUDANET_CUDA_CHECK_NOTHROW(cudaFree(p));     // in destructors: reports, never throws
#pragma once

#include <cuda_runtime_api.h>

namespace cudanet::cuda::detail {
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expr, const char* file,
                                   int line);
void report_cuda_error(cudaError_t status, const char* expr, const char* file, int line) noexcept;
void check_launch(const char* file, int line);
// The result of a cudaStreamQuery / cudaEventQuery: true when done, false for cudaErrorNotReady
// (cleared, it is not an error); any other status throws.
bool check_ready(cudaError_t status, const char* expr, const char* file, int line);
}  // namespace cudanet::cuda::detail

#define CUDANET_CUDA_CHECK(expr)                                                             \
  do {                                                                                       \
    const cudaError_t cudanet_status_ = (expr);                                              \
    if (cudanet_status_ != cudaSuccess) {                                                    \
      ::cudanet::cuda::detail::throw_cuda_error(cudanet_status_, #expr, __FILE__, __LINE__); \
    }                                                                                        \
  } while (0)

#define CUDANET_CUDA_CHECK_NOTHROW(expr)                                                      \
  do {                                                                                        \
    const cudaError_t cudanet_status_ = (expr);                                               \
    if (cudanet_status_ != cudaSuccess) {                                                     \
      ::cudanet::cuda::detail::report_cuda_error(cudanet_status_, #expr, __FILE__, __LINE__); \
    }                                                                                         \
  } while (0)

// bool done = CUDANET_CUDA_READY(cudaEventQuery(event));
#define CUDANET_CUDA_READY(expr) \
  ::cudanet::cuda::detail::check_ready((expr), #expr, __FILE__, __LINE__)

#define CUDANET_LAUNCH_CHECK() ::cudanet::cuda::detail::check_launch(__FILE__, __LINE__)
