// CPU GEMM: the naive reference (the oracle of the tests) and OpenBLAS.
#include "kernels/gemm.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/parallel.h"
#include "kernels/common.h"

#if CUDANET_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace cudanet::kernels::cpu {

namespace {
// Element (i, j) of op(X), X stored row-major with row stride ld.
template <typename T>
T at(const T* x, std::int64_t ld, bool trans, std::int64_t i, std::int64_t j) {
  return trans ? x[j * ld + i] : x[i * ld + j];
}
}  // namespace

template <typename T>
void gemm_reference(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  for (std::int64_t i = 0; i < p.m; ++i) {
    for (std::int64_t j = 0; j < p.n; ++j) {
      double sum = 0.0;
      for (std::int64_t l = 0; l < p.k; ++l) {
        sum += static_cast<double>(at(a, p.lda, p.trans_a, i, l)) *
               static_cast<double>(at(b, p.ldb, p.trans_b, l, j));
      }
      T& out = c[i * p.ldc + j];
      // beta == 0: C is not read, so NaN or garbage there does not propagate (BLAS semantics).
      const double prior = beta == T(0) ? 0.0 : static_cast<double>(beta) * out;
      out = static_cast<T>(static_cast<double>(alpha) * sum + prior);
    }
  }
}

bool have_openblas() {
  return CUDANET_WITH_OPENBLAS != 0;
}

#if CUDANET_WITH_OPENBLAS
namespace {

// One single-threaded OpenBLAS call.
template <typename T>
void blas_call(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  const auto ta = p.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = p.trans_b ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<blasint>(p.m), n = static_cast<blasint>(p.n),
             k = static_cast<blasint>(p.k);
  const auto lda = static_cast<blasint>(p.lda), ldb = static_cast<blasint>(p.ldb),
             ldc = static_cast<blasint>(p.ldc);
  if constexpr (sizeof(T) == sizeof(float)) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Note: cudanet runs OpenBLAS single-threaded and splits large products across its own threads
// by rows or columns of C (every element is still one BLAS dot product, so the result does not
// depend on the split). OpenBLAS's own worker threads spin (sched_yield) between calls, which on a
// small machine took a third of the CPU time of a LeNet-5 training step.
void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Note: in deterministic mode (kernels::deterministic()) the split is into a fixed number of
// pieces that depends on the problem's shape only, never on the core count, so even a BLAS whose
// per-element rounding depended on the block shape (small-matrix kernels, edge tiles) gives the
// same bits on machines with different core counts.
constexpr std::int64_t kDeterministicPieces = 16;

template <typename T>
void blas_parallel(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  constexpr double kFlopsPerThread = 4e6;  // below this a thread costs more than it saves
  const double flops =
      2.0 * static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
  const std::int64_t hw =
      deterministic() ? kDeterministicPieces : std::max(1u, std::thread::hardware_concurrency());
  const bool by_rows = p.m >= p.n;
  const std::int64_t extent = by_rows ? p.m : p.n;
  const std::int64_t pieces =
      std::min<std::int64_t>({hw, extent / 8, static_cast<std::int64_t>(flops / kFlopsPerThread)});
  if (pieces <= 1) {
    blas_call(p, alpha, a, b, beta, c);
    return;
  }
  // Pieces of extent / pieces rows (or columns), rounded up: one BLAS call each, spread over the
  // cores.
  const std::int64_t size = (extent + pieces - 1) / pieces;
  parallel_for(pieces, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t piece = first; piece < last; ++piece) {
      const std::int64_t begin = piece * size, end = std::min(extent, begin + size);
      if (begin >= end) continue;
      GemmProblem q = p;
      if (by_rows) {
        q.m = end - begin;
        blas_call(q, alpha, p.trans_a ? a + begin : a + begin * p.lda, b, beta, c + begin * p.ldc);
      } else {
        q.n = end - begin;
        blas_call(q, alpha, a, p.trans_b ? b + begin * p.ldb : b + begin, beta, c + begin);
      }
    }
  });
}

}  // namespace
#endif

namespace {
// One BLAS call, spread over the cores or not; the reference where OpenBLAS cannot take it.
template <typename T>
void gemm_blas_impl(bool parallel, const GemmProblem& p, T alpha, const T* a, const T* b, T beta,
                    T* c) {
#if CUDANET_WITH_OPENBLAS
  constexpr std::int64_t kMax = std::numeric_limits<blasint>::max();
  const bool fits =
      p.m <= kMax && p.n <= kMax && p.k <= kMax && p.lda <= kMax && p.ldb <= kMax && p.ldc <= kMax;
  if (fits && p.k > 0) {
    use_single_threaded_blas();
    if (parallel) {
      blas_parallel(p, alpha, a, b, beta, c);
    } else {
      blas_call(p, alpha, a, b, beta, c);
    }
    return;
  }
#else
  (void)parallel;
#endif
  gemm_reference<T>(p, alpha, a, b, beta, c);
}
}  // namespace

template <typename T>
void gemm_blas(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  gemm_blas_impl(true, p, alpha, a, b, beta, c);
}

template <typename T>
void gemm_blas_serial(const GemmProblem& p, T alpha, const T* a, const T* b, T beta, T* c) {
  gemm_blas_impl(false, p, alpha, a, b, beta, c);
}

template void gemm_reference<float>(const GemmProblem&, float, const float*, const float*, float,
                                    float*);
template void gemm_reference<double>(const GemmProblem&, double, const double*, const double*,
                                     double, double*);
template void gemm_blas<float>(const GemmProblem&, float, const float*, const float*, float,
                               float*);
template void gemm_blas<double>(const GemmProblem&, double, const double*, const double*, double,
                                double*);
template void gemm_blas_serial<float>(const GemmProblem&, float, const float*, const float*, float,
                                      float*);
template void gemm_blas_serial<double>(const GemmProblem&, double, const double*, const double*,
                                       double, double*);

}  // namespace cudanet::kernels::cpu
