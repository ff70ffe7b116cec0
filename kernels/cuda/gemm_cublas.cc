// GEMM through cuBLAS, with row-major operands.
//
// cuBLAS is column-major. A row-major [R, C] matrix with row stride ld is, read column-major, the
// [C, R] matrix of its transpose with the same ld. So for row-major C = op(A) op(B) we ask cuBLAS
// for the column-major C^T = op(B)^T op(A)^T: swap the operands, swap M and N, and keep each
// operand's transpose flag (the stored row-major B already reads as B^T column-major).
//
// Note: a cuBLAS handle is created once per device and calling thread and kept in a thread-local
// cache (creating one per call would allocate a workspace each time). Each call binds the handle
// to the stream, gives it that stream's workspace and sets the math mode, so a handle never leaks
// settings between calls.
//
// Note: the workspace. cublasSetStream resets a handle to cuBLAS's own workspace pool, which cuBLAS
// fills with cudaMalloc behind the caching allocator's back, and, under CUDA graph capture, with
// a new workspace for every graph captured (so memory grows with each capture: the trainer
// captures again every epoch). Instead each (device, stream) gets one workspace from the caching
// allocator, on that stream, the first time a GEMM runs there, and keeps it for the thread's
// lifetime: the allocator's statistics (peak memory, device mallocs) then count it, and captures
// reuse it. Its size is what the cuBLAS documentation recommends: 32 MiB on Hopper and newer,
// 4 MiB before. cudanet's streams live as long as the process (each TrainStep makes one), so a
// thread keeps workspaces for at most kMaxStreamWorkspaces streams per device; GEMMs on further
// streams use cuBLAS's own pool (a workspace freed early could still be in a captured graph).
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/allocator.h"
#include "core/cuda/check.h"
#include "core/cuda/library_check.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "kernels/gemm.h"

namespace cudanet::kernels::cuda {

namespace {

constexpr std::size_t kMaxStreamWorkspaces = 8;

std::size_t recommended_workspace_bytes(int device) {
  const int major = ::cudanet::cuda::properties(device).major;
  return (major >= 9 ? std::size_t{32} : std::size_t{4}) << 20;
}

// The calling thread's cuBLAS handles and workspaces, indexed by device; destroyed when the
// thread ends.
class HandleCache {
 public:
  HandleCache() = default;
  HandleCache(const HandleCache&) = delete;
  HandleCache& operator=(const HandleCache&) = delete;
  ~HandleCache() {
    for (PerDevice& d : devices_) {
      d.workspaces.clear();  // back to the caching allocator (which outlives every thread)
      // Errors are ignored: at exit the driver may already be shutting down.
      if (d.handle != nullptr) (void)cublasDestroy(d.handle);
    }
  }

  // The handle for `device` (the current device), bound to `stream` and its workspace.
  cublasHandle_t bind(int device, const Stream& stream) {
    if (device >= static_cast<int>(devices_.size())) devices_.resize(device + 1);
    PerDevice& d = devices_[device];
    if (d.handle == nullptr) {
      d.workspace_bytes = recommended_workspace_bytes(device);
      CUDANET_CUBLAS_CHECK(cublasCreate(&d.handle));
    }
    auto it = d.workspaces.find(stream.id());
    if (it == d.workspaces.end() && d.workspaces.size() < kMaxStreamWorkspaces) {
      DataPtr fresh =
          ::cudanet::cuda::caching_allocator(device).allocate(d.workspace_bytes, stream);
      it = d.workspaces.emplace(stream.id(), std::move(fresh)).first;
    }
    CUDANET_CUBLAS_CHECK(cublasSetStream(d.handle, static_cast<cudaStream_t>(stream.handle())));
    if (it != d.workspaces.end()) {
      CUDANET_CUBLAS_CHECK(cublasSetWorkspace(d.handle, it->second.get(), d.workspace_bytes));
    }
    return d.handle;
  }

 private:
  struct PerDevice {
    cublasHandle_t handle = nullptr;
    std::size_t workspace_bytes = 0;
    std::unordered_map<std::uintptr_t, DataPtr> workspaces;  // by Stream::id()
  };
  std::vector<PerDevice> devices_;
};

cublasHandle_t bind_handle(int device, const Stream& stream) {
  thread_local HandleCache cache;
  return cache.bind(device, stream);
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
  cublasHandle_t h = bind_handle(device, stream);
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
