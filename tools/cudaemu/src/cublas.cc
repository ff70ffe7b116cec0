// cudaemu: cuBLAS GEMM on the CPU, with cuBLAS's argument checks (and TF32 operands under
// CUBLAS_TF32_TENSOR_OP_MATH, as on an Ampere or newer GPU). The product is a stream
// operation (recorded under stream capture like any other).
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cublas_v2.h"
#include "internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

using cudaemu::detail::device_accessible;

// Elements a column-major rows x cols matrix with leading dimension ld spans.
std::int64_t span(std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : ld * (cols - 1) + rows;
}

template <typename T>
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
                    std::int64_t n, std::int64_t k, const T* alpha_p, const T* a, std::int64_t lda,
                    const T* b, std::int64_t ldb, const T* beta_p, T* c, std::int64_t ldc) {
  if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool trans_a = ta != CUBLAS_OP_N, trans_b = tb != CUBLAS_OP_N;
  // op(A) is m x k, op(B) is k x n, C is m x n (column-major).
  const std::int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  const std::int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if (m < 0 || n < 0 || k < 0 || lda < std::max<std::int64_t>(1, a_rows) ||
      ldb < std::max<std::int64_t>(1, b_rows) || ldc < std::max<std::int64_t>(1, m) ||
      alpha_p == nullptr || beta_p == nullptr) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const T alpha = *alpha_p, beta = *beta_p;  // host pointer mode: read at the call
  // CUBLAS_TF32_TENSOR_OP_MATH lets FP32 products read their operands as TF32.
  const bool tf32 = std::is_same_v<T, float> && h->math == CUBLAS_TF32_TENSOR_OP_MATH &&
                    cudaemu::detail::tf32_allowed_by_environment();
  const auto operand = [tf32](T v) {
    if constexpr (std::is_same_v<T, float>) return tf32 ? cudaemu::detail::round_to_tf32(v) : v;
    return v;
  };
  const auto bytes = [](std::int64_t elements) {
    return static_cast<std::size_t>(elements) * sizeof(T);
  };
  if (!device_accessible(c, bytes(span(m, n, ldc))) ||
      (k > 0 && (!device_accessible(a, bytes(span(a_rows, a_cols, lda))) ||
                 !device_accessible(b, bytes(span(b_rows, b_cols, ldb)))))) {
    cudaemu::detail::fault(cudaErrorIllegalAddress,
                           "a cuBLAS GEMM whose matrices run outside their device allocations");
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  const cudaError_t status = cudaemu::detail::enqueue(h->stream, [=] {
    cudaemu::detail::Access access;
    for (std::int64_t j = 0; j < n; ++j) {
      for (std::int64_t i = 0; i < m; ++i) {
        T acc = 0;
        for (std::int64_t p = 0; p < k; ++p) {
          const T av = operand(trans_a ? a[p + i * lda] : a[i + p * lda]);
          const T bv = operand(trans_b ? b[j + p * ldb] : b[p + j * ldb]);
          acc += av * bv;
        }
        T& out = c[i + j * ldc];
        out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;  // beta 0: C is not read
      }
    }
    return cudaSuccess;
  });
  return status == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

extern "C" {

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return "success";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "the GPU program failed to execute";
    default:
      return cublasGetStatusName(status);
  }
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
  return gemm<float>(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

cublasStatus_t cublasSgemm_64(cublasHandle_t handle, cublasOperation_t transa,
                              cublasOperation_t transb, std::int64_t m, std::int64_t n,
                              std::int64_t k, const float* alpha, const float* a, std::int64_t lda,
                              const float* b, std::int64_t ldb, const float* beta, float* c,
                              std::int64_t ldc) {
  return gemm<float>(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

cublasStatus_t cublasDgemm_64(cublasHandle_t handle, cublasOperation_t transa,
                              cublasOperation_t transb, std::int64_t m, std::int64_t n,
                              std::int64_t k, const double* alpha, const double* a,
                              std::int64_t lda, const double* b, std::int64_t ldb,
                              const double* beta, double* c, std::int64_t ldc) {
  return gemm<double>(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // extern "C"
