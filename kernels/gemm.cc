#include "kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("CUDANET_ALLOW_TF32");
    return env != nullptr && *env != '\0' && std::string(env) != "0";
  }();
  return flag;
}

// True when the element ranges of x and y share at least one byte.
bool overlaps(const Tensor& x, const Tensor& y) {
  if (x.numel() == 0 || y.numel() == 0) return false;
  const auto* x0 = static_cast<const char*>(x.data_ptr());
  const auto* y0 = static_cast<const char*>(y.data_ptr());
  return x0 < y0 + y.nbytes() && y0 < x0 + x.nbytes();
}

template <typename T>
void run_cpu(const GemmProblem& p, double alpha, const Tensor& a, const Tensor& b, double beta,
             Tensor& c, bool reference) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = c.data<T>();
  if (reference) {
    cpu::gemm_reference<T>(p, static_cast<T>(alpha), pa, pb, static_cast<T>(beta), pc);
  } else {
    cpu::gemm_blas<T>(p, static_cast<T>(alpha), pa, pb, static_cast<T>(beta), pc);
  }
}

}  // namespace

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::kDefault:
      return "default";
    case GemmBackend::kNative:
      return "native";
    case GemmBackend::kCublas:
      return "cublas";
    case GemmBackend::kReference:
      return "reference";
  }
  return "unknown";
}

void set_allow_tf32(bool on) {
  tf32_flag().store(on);
}
bool allow_tf32() {
  return tf32_flag().load();
}

void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, double alpha,
          double beta, GemmBackend backend) {
  constexpr const char* op = "gemm";
  check_float_input(a, op, "a");
  check_float_input(b, op, "b");
  check_float_input(c, op, "c");
  check_dims(a, 2, op, "a");
  check_dims(b, 2, op, "b");
  check_dims(c, 2, op, "c");
  check_same_device_dtype(a, {&b, &c}, op);

  GemmProblem p;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.m = trans_a ? a.size(1) : a.size(0);
  p.k = trans_a ? a.size(0) : a.size(1);
  const std::int64_t kb = trans_b ? b.size(1) : b.size(0);
  p.n = trans_b ? b.size(0) : b.size(1);
  CUDANET_CHECK(p.k == kb, ShapeError, op, ": inner dimensions differ: op(a) is [", p.m, ", ", p.k,
                "] (a ", shape_str(a.shape()), trans_a ? " transposed" : "", "), op(b) is [", kb,
                ", ", p.n, "] (b ", shape_str(b.shape()), trans_b ? " transposed" : "", ")");
  check_shape(c, {p.m, p.n}, op, "c");
  CUDANET_CHECK(!overlaps(c, a) && !overlaps(c, b), ValueError, op, ": c overlaps an input (a ",
                shape_str(a.shape()), ", b ", shape_str(b.shape()),
                "); write the result to a separate tensor");
  const bool on_cpu = a.device().is_cpu();
  CUDANET_CHECK(on_cpu || backend != GemmBackend::kReference, ValueError, op,
                ": backend 'reference' runs on the CPU only; tensors are on ", a.device());

  // Leading dimensions as stored; at least 1 so that BLAS accepts empty matrices.
  p.lda = std::max<std::int64_t>(a.size(1), 1);
  p.ldb = std::max<std::int64_t>(b.size(1), 1);
  p.ldc = std::max<std::int64_t>(c.size(1), 1);
  if (p.m == 0 || p.n == 0) return;

  if (on_cpu) {
    // K == 0 goes to the loop (C = beta * C), which BLAS would reject for its leading dimension.
    const bool reference = backend == GemmBackend::kReference || p.k == 0;
    if (a.dtype() == DType::kFloat32) {
      run_cpu<float>(p, alpha, a, b, beta, c, reference);
    } else {
      run_cpu<double>(p, alpha, a, b, beta, c, reference);
    }
    return;
  }
#if CUDANET_WITH_CUDA
  const Stream stream = current_stream(a.device());
  // K == 0 goes to the hand-written kernel, which then writes C = beta * C.
  if (backend == GemmBackend::kNative || p.k == 0) {
    cuda::gemm_native(p, alpha, a.data_ptr(), b.data_ptr(), beta, c.data_ptr(), a.dtype(), stream);
  } else {
    cuda::gemm_cublas(p, alpha, a.data_ptr(), b.data_ptr(), beta, c.data_ptr(), a.dtype(), stream);
  }
#else
  CUDANET_THROW(CudaError, op, ": tensors on ", a.device(), " but cudanet was built without CUDA");
#endif
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, GemmBackend backend) {
  constexpr const char* op = "matmul";
  check_float_input(a, op, "a");
  check_float_input(b, op, "b");
  check_dims(a, 2, op, "a");
  check_dims(b, 2, op, "b");
  check_same_device_dtype(a, {&b}, op);
  const std::int64_t m = trans_a ? a.size(1) : a.size(0);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  const std::int64_t kb = trans_b ? b.size(1) : b.size(0);
  const std::int64_t n = trans_b ? b.size(0) : b.size(1);
  CUDANET_CHECK(k == kb, ShapeError, op, ": inner dimensions differ: op(a) is [", m, ", ", k,
                "] (a ", shape_str(a.shape()), trans_a ? " transposed" : "", "), op(b) is [", kb,
                ", ", n, "] (b ", shape_str(b.shape()), trans_b ? " transposed" : "", ")");
  Tensor c = Tensor::empty({m, n}, a.dtype(), a.device());
  gemm(a, trans_a, b, trans_b, c, 1.0, 0.0, backend);
  return c;
}

}  // namespace cudanet::kernels
