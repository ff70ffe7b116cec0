// GEMM: C = alpha * op(A) * op(B) + beta * C on row-major matrices (numpy's layout).
//
// op(X) is X or its transpose. With op(A) of shape [M, K] and op(B) of shape [K, N], C is [M, N].
// A is stored as [M, K] (or [K, M] when trans_a), B as [K, N] (or [N, K] when trans_b).
//
// Backends:
//   kDefault    CPU: OpenBLAS when built with it, else the reference loop. CUDA: cuBLAS.
//   kNative     CUDA: the hand-written tiled kernels (sgemm_tiled_kernel, dgemm_tiled_kernel).
//   kCublas     CUDA: cuBLAS.
//   kReference  CPU only: the naive triple loop (the tests' oracle).
// The CUDA-only backends (kNative, kCublas) select among CUDA implementations: on CPU tensors
// they run the CPU default, as a network's backend choice does not apply to CPU tensors.
//
// Note: when beta == 0, C is not read (it may hold NaN); this is BLAS's contract. C must not
// overlap A or B. Float32 GEMM on CUDA is strict FP32 unless set_allow_tf32(true) lets cuBLAS use
// TF32 tensor cores (10-bit mantissa inputs); the hand-written kernels are always FP32.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

enum class GemmBackend { kDefault, kNative, kCublas, kReference };
const char* gemm_backend_name(GemmBackend backend);  // "default", "native", "cublas", "reference"

// Whether cuBLAS may use TF32 tensor cores for float32 GEMMs. Off by default (strict FP32); the
// environment variable CUDANET_ALLOW_TF32=1 turns it on at start-up.
void set_allow_tf32(bool on);
bool allow_tf32();

// C = alpha * op(A) * op(B) + beta * C. Checks every argument first: ShapeError unless A, B and C
// are 2-D with matching inner dimensions and C is [M, N]; ValueError for undefined,
// non-contiguous or non-float tensors, mixed devices or dtypes, C overlapping A or B, or a
// backend the device lacks (kReference on CUDA). Zero-sized M, N or K are allowed (K == 0 gives
// C = beta * C). On CUDA the work is queued on the device's current stream.
void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
          double alpha = 1.0, double beta = 0.0, GemmBackend backend = GemmBackend::kDefault);

// op(A) * op(B) as a new tensor on A's device.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false,
              GemmBackend backend = GemmBackend::kDefault);

// A GEMM problem on raw row-major buffers; ld* are the row strides (in elements) of the stored
// matrices: lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N.
struct GemmProblem {
  std::int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
};

namespace cpu {
// The oracle: for each C element, one dot product accumulated in double.
template <typename T>
void gemm_reference(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c);
// OpenBLAS (cblas_sgemm / cblas_dgemm) when built with it, else gemm_reference.
template <typename T>
void gemm_blas(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c);
// gemm_blas as one call on the calling thread, for callers that spread their own work (say one
// small product per block of images) over the cores.
template <typename T>
void gemm_blas_serial(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c);
// True when gemm_blas uses OpenBLAS.
bool have_openblas();
}  // namespace cpu

namespace cuda {
// Declared without CUDA headers. Pointers are device pointers of `dtype` (float32 or float64);
// alpha and beta are converted to it. Work is queued on `stream`.
// The hand-written kernels (kernels/cuda/sgemm.cu).
void gemm_native(const GemmProblem& p, double alpha, const void* a, const void* b, double beta,
                 void* c, DType dtype, const Stream& stream);
// cuBLAS (kernels/cuda/gemm_cublas.cc): one handle per device and thread, created on first use.
void gemm_cublas(const GemmProblem& p, double alpha, const void* a, const void* b, double beta,
                 void* c, DType dtype, const Stream& stream);
}  // namespace cuda

}  // namespace cudanet::kernels
