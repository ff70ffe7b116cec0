// cudaemu: cuBLAS GEMM on the CPU, with cuBLAS's argument checks (and TF32 operands under
// CUBLAS_TF32_TENSOR_OP_MATH, as on an Ampere or newer GPU). The product is a stream
// operation (recorded under stream capture like any other).
//
// The workspace, as the cuBLAS documentation describes it: cublasSetWorkspace gives the handle a
// user-owned buffer, and cublasSetStream resets it to the library's default pool. The emulated
// pool is device memory that the handle allocates itself (cudaMalloc, unseen by any caching
// allocator) once per stream, and once more for every stream capture it is used in, as cuBLAS
// does when a graph is captured without a user workspace; it is freed by cublasDestroy. A GEMM
// scribbles over its workspace when it runs, so one freed too early is an illegal address.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cublas_v2.h"
#include "internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  bool user_workspace = false;  // set by cublasSetWorkspace (else the default pool is used)
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  // The default pool: (stream, capture sequence or 0) -> its workspace.
  std::map<std::pair<cudaStream_t, std::uint64_t>, void*> pool;
};

namespace {

using cudaemu::detail::device_accessible;

// The size of each default-pool workspace (cuBLAS documents 4 MiB before Hopper).
constexpr std::size_t kPoolWorkspaceBytes = std::size_t{4} << 20;

// The workspace a GEMM on the handle's stream uses now: the user's, or the pool's for this stream
// and capture sequence (allocated on first use). False when the pool cannot allocate.
bool workspace_of(cublasHandle_t h, void** ptr, std::size_t* bytes) {
  if (h->user_workspace) {
    *ptr = h->workspace;
    *bytes = h->workspace_bytes;
    return true;
  }
  const auto key = std::make_pair(h->stream, cudaemu::detail::capture_sequence(h->stream));
  auto it = h->pool.find(key);
  if (it == h->pool.end()) {
    void* fresh = nullptr;
    if (cudaMalloc(&fresh, kPoolWorkspaceBytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    it = h->pool.emplace(key, fresh).first;
  }
  *ptr = it->second;
  *bytes = kPoolWorkspaceBytes;
  return true;
}

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
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  if (!workspace_of(h, &workspace, &workspace_bytes)) return CUBLAS_STATUS_ALLOC_FAILED;
  const cudaError_t status = cudaemu::detail::enqueue(
      h->stream,
      [=] {
        if (workspace_bytes > 0 && !device_accessible(workspace, workspace_bytes)) {
          return cudaemu::detail::fault(
              cudaErrorIllegalAddress,
              "a cuBLAS GEMM whose workspace is not (or no longer) device "
              "memory of the size cublasSetWorkspace was given");
        }
        cudaemu::detail::Access access;
        std::memset(workspace, 0xA5, std::min<std::size_t>(workspace_bytes, 4096));
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
        return cudaemu::detail::order_note_all(
            {{a, k > 0 ? bytes(span(a_rows, a_cols, lda)) : 0, false},
             {b, k > 0 ? bytes(span(b_rows, b_cols, ldb)) : 0, false},
             {c, bytes(span(m, n, ldc)), true},
             {workspace, workspace_bytes, true}});
      },
      "a cuBLAS GEMM");
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
  for (const auto& [key, ptr] : handle->pool) (void)cudaFree(ptr);
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  handle->user_workspace = false;  // back to the default pool, as the documentation says
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace,
                                  std::size_t workspace_bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  // cuBLAS requires a 256-byte aligned workspace; nullptr with 0 bytes means none at all.
  if ((workspace == nullptr) != (workspace_bytes == 0) ||
      reinterpret_cast<std::uintptr_t>(workspace) % 256 != 0) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->user_workspace = true;
  handle->workspace = workspace;
  handle->workspace_bytes = workspace_bytes;
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
