#include "core/cuda/check.h"

#include <cstdio>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace cudanet::cuda::detail {

void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line) {
  // Clear a non-sticky error so the next check does not report it again.
  (void)cudaGetLastError();
  std::string message = cudanet::detail::str("CUDA error ", cudaGetErrorName(status), " (",
                                             cudaGetErrorString(status), ") in ", expr);
  if (status == cudaErrorMemoryAllocation) throw OutOfMemoryError(message, file, line);
  throw CudaError(message, file, line, static_cast<int>(status));
}

void report_cuda_error(cudaError_t status, const char* expr, const char* file, int line) noexcept {
  (void)cudaGetLastError();
  std::fprintf(stderr, "%s:%d: CUDA error %s (%s) in %s (ignored in a destructor)\n", file, line,
               cudaGetErrorName(status), cudaGetErrorString(status), expr);
}

bool check_ready(cudaError_t status, const char* expr, const char* file, int line) {
  if (status == cudaSuccess) return true;
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  throw_cuda_error(status, expr, file, line);
}

void check_launch(const char* file, int line) {
  const cudaError_t launch = cudaGetLastError();
  if (launch != cudaSuccess) throw_cuda_error(launch, "kernel launch", file, line);
  if (sync_launches()) {
    const cudaError_t run = cudaDeviceSynchronize();
    if (run != cudaSuccess) throw_cuda_error(run, "kernel execution (synchronised)", file, line);
  }
}

}  // namespace cudanet::cuda::detail
