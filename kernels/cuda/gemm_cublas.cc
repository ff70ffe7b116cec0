// GEMM through cuBLAS, with row-major operands.
//
// cuBLAS is column-major. A row-major [R, C] matrix with row stride ld is, read column-major, the
// [C, R] matrix of its transpose with the same ld. So for row-major C = op(A) op(B) we ask cuBLAS
// for the column-major C^T = op(B)^T op(A)^T: swap the operands, swap M and N, and keep each
// operand's transpose flag (the stored row-major B already reads as B^T column-major).
//
// Note: a cuBLAS handle is created once per device and calling thread and kept in a thread-local
// cache (creating one per call would allocate a workspace each time). Each call binds the handle
// to the stream and sets the math mode, so a handle never leaks settings between calls.
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/cuda/check.h"
#include "core/cuda/library_check.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "kernels/gemm.h"

namespace cudanet::kernels::cuda {

namespace {

// The calling thread's cuBLAS handles, indexed by device; destroyed when the thread ends.
class HandleCache {
 public:
  HandleCache() = default;
  HandleCache(const HandleCache&) = delete;
  HandleCache& operator=(const HandleCache&) = delete;
  ~HandleCache() {
    // Errors are ignored: at exit the driver may already be shutting down.
    for (cublasHandle_t h : handles_) {
      if (h != nullptr) (void)cublasDestroy(h);
    }
  }

  // The handle for `device`, which must be the current device.
  cublasHandle_t get(int device) {
    if (device >= static_cast<int>(handles_.size())) handles_.resize(device + 1, nullptr);
    if (handles_[device] == nullptr) CUDANET_CUBLAS_CHECK(cublasCreate(&handles_[device]));
    return handles_[device];
  }

 private:
  std::vector<cublasHandle_t> handles_;
};

cublasHandle_t handle_for(int device) {
  thread_local HandleCache cache;
  return cache.get(device);
}

cublasOperation_t op_of(bool trans) {
  return trans ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace

void gemm_cublas(const GemmProblem& p, double alpha, const void* a, const void* b, double beta,
                 void* c, DType dtype, const Stream& stream) {
  CUDANET_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64, ValueError,
                "gemm (cuBLAS): dtype ", dtype, " is not supported; float32 or float64 is needed");
  if (p.m == 0 || p.n == 0) return;
  const int device = stream.device().index();
  ::cudanet::cuda::DeviceGuard guard(device);
  cublasHandle_t h = handle_for(device);
  CUDANET_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream.handle())));
  // Column-major view: C^T [N, M] = op(B)^T [N, K] * op(A)^T [K, M].
  const cublasOperation_t op_b = op_of(p.trans_b), op_a = op_of(p.trans_a);
  if (dtype == DType::kFloat32) {
    const cublasMath_t mode = allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    CUDANET_CUBLAS_CHECK(cublasSetMathMode(h, mode));
    const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
    CUDANET_CUBLAS_CHECK(
        cublasSgemm_64(h, op_b, op_a, p.n, p.m, p.k, &fa, static_cast<const float*>(b), p.ldb,
                       static_cast<const float*>(a), p.lda, &fb, static_cast<float*>(c), p.ldc));
  } else {
    CUDANET_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    CUDANET_CUBLAS_CHECK(cublasDgemm_64(
        h, op_b, op_a, p.n, p.m, p.k, &alpha, static_cast<const double*>(b), p.ldb,
        static_cast<const double*>(a), p.lda, &beta, static_cast<double*>(c), p.ldc));
  }
}

}  // namespace cudanet::kernels::cuda
