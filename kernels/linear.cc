#include "kernels/linear.h"

#include <initializer_list>

#include "core/config.h"
#include "core/error.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

constexpr const char* kForward = "linear_forward";
constexpr const char* kBackward = "linear_backward";
constexpr const char* kBiasAdd = "bias_add";
constexpr const char* kBiasGrad = "bias_grad";

bool overlaps(const Tensor& x, const Tensor& y) {
  if (x.numel() == 0 || y.numel() == 0) return false;
  const auto* x0 = static_cast<const char*>(x.data_ptr());
  const auto* y0 = static_cast<const char*>(y.data_ptr());
  return x0 < y0 + y.nbytes() && y0 < x0 + x.nbytes();
}

// Throws ValueError if the output `out` shares memory with any of `inputs`.
void check_no_overlap(const Tensor& out, const char* name,
                      std::initializer_list<const Tensor*> inputs, const char* op) {
  for (const Tensor* in : inputs) {
    CUDANET_CHECK(!overlaps(out, *in), ValueError, op, ": output ", name, " of shape ",
                  shape_str(out.shape()), " overlaps an input of shape ", shape_str(in->shape()));
  }
}

void check_matrix(const Tensor& t, const char* op, const char* name) {
  check_float_input(t, op, name);
  check_dims(t, 2, op, name);
}

// Validates an output given to linear_backward_into.
void check_output(const Tensor* t, const Shape& shape, const Tensor& ref, const char* name,
                  std::initializer_list<const Tensor*> inputs) {
  if (t == nullptr) return;
  check_float_input(*t, kBackward, name);
  check_shape(*t, shape, kBackward, name);
  check_same_device_dtype(ref, {t}, kBackward);
  check_no_overlap(*t, name, inputs, kBackward);
}

void bias_add_unchecked(Tensor& y, const Tensor& b) {
  const std::int64_t rows = y.size(0), cols = y.size(1);
  if (rows == 0 || cols == 0) return;
  if (y.device().is_cpu()) {
    if (y.dtype() == DType::kFloat32) {
      cpu::bias_add_forward<float>(y.data<float>(), b.data<float>(), rows, cols);
    } else {
      cpu::bias_add_forward<double>(y.data<double>(), b.data<double>(), rows, cols);
    }
    return;
  }
#if CUDANET_WITH_CUDA
  cuda::bias_add_forward(y.data_ptr(), b.data_ptr(), rows, cols, y.dtype(),
                         current_stream(y.device()));
#else
  CUDANET_THROW(CudaError, kBiasAdd, ": tensors on ", y.device(),
                " but cudanet was built without CUDA");
#endif
}

void bias_grad_unchecked(const Tensor& dy, Tensor& db, bool accumulate) {
  const std::int64_t rows = dy.size(0), cols = dy.size(1);
  if (cols == 0) return;
  if (dy.device().is_cpu()) {
    if (dy.dtype() == DType::kFloat32) {
      cpu::bias_grad<float>(dy.data<float>(), db.data<float>(), rows, cols, accumulate);
    } else {
      cpu::bias_grad<double>(dy.data<double>(), db.data<double>(), rows, cols, accumulate);
    }
    return;
  }
#if CUDANET_WITH_CUDA
  cuda::bias_grad(dy.data_ptr(), db.data_ptr(), rows, cols, accumulate, dy.dtype(),
                  current_stream(dy.device()));
#else
  CUDANET_THROW(CudaError, kBiasGrad, ": tensors on ", dy.device(),
                " but cudanet was built without CUDA");
#endif
}

}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b, GemmBackend backend) {
  check_matrix(x, kForward, "x");
  check_matrix(w, kForward, "w");
  check_same_device_dtype(x, {&w, b}, kForward);
  CUDANET_CHECK(w.size(1) == x.size(1), ShapeError, kForward, ": x ", shape_str(x.shape()), " has ",
                x.size(1), " features but w ", shape_str(w.shape()), " expects ", w.size(1),
                " (w is [out, in])");
  if (b != nullptr) {
    check_float_input(*b, kForward, "b");
    check_shape(*b, {w.size(0)}, kForward, "b");
  }
  CUDANET_CHECK(x.device().is_cpu() || backend != GemmBackend::kReference, ValueError, kForward,
                ": backend 'reference' runs on the CPU only; tensors are on ", x.device());
  Tensor y = Tensor::empty({x.size(0), w.size(0)}, x.dtype(), x.device());
  gemm(x, false, w, true, y, 1.0, 0.0, backend);
  if (b != nullptr) bias_add_unchecked(y, *b);
  return y;
}

void linear_backward_into(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor* dx,
                          Tensor* dw, Tensor* db, bool accumulate, GemmBackend backend) {
  check_matrix(dy, kBackward, "dy");
  check_matrix(x, kBackward, "x");
  check_matrix(w, kBackward, "w");
  check_same_device_dtype(dy, {&x, &w}, kBackward);
  const std::int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  CUDANET_CHECK(w.size(1) == in, ShapeError, kBackward, ": x ", shape_str(x.shape()), " has ", in,
                " features but w ", shape_str(w.shape()), " expects ", w.size(1));
  check_shape(dy, {n, out}, kBackward, "dy");
  check_output(dx, {n, in}, dy, "dx", {&dy, &x, &w});
  check_output(dw, {out, in}, dy, "dw", {&dy, &x, &w});
  check_output(db, {out}, dy, "db", {&dy, &x, &w});
  if (dx != nullptr && dw != nullptr) check_no_overlap(*dx, "dx", {dw}, kBackward);
  if (dx != nullptr && db != nullptr) check_no_overlap(*dx, "dx", {db}, kBackward);
  if (dw != nullptr && db != nullptr) check_no_overlap(*dw, "dw", {db}, kBackward);
  CUDANET_CHECK(dy.device().is_cpu() || backend != GemmBackend::kReference, ValueError, kBackward,
                ": backend 'reference' runs on the CPU only; tensors are on ", dy.device());

  if (dx != nullptr) gemm(dy, false, w, false, *dx, 1.0, 0.0, backend);  // [N, out] [out, in]
  if (dw != nullptr) {
    gemm(dy, true, x, false, *dw, 1.0, accumulate ? 1.0 : 0.0, backend);  // [out, N] [N, in]
  }
  if (db != nullptr) bias_grad_unchecked(dy, *db, accumulate);
}

LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool has_bias,
                            GemmBackend backend) {
  check_matrix(dy, kBackward, "dy");
  check_matrix(x, kBackward, "x");
  check_matrix(w, kBackward, "w");
  LinearGrads g;
  g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  g.dw = Tensor::empty(w.shape(), w.dtype(), w.device());
  if (has_bias) g.db = Tensor::empty({w.size(0)}, w.dtype(), w.device());
  linear_backward_into(dy, x, w, &g.dx, &g.dw, has_bias ? &g.db : nullptr, false, backend);
  return g;
}

void bias_add(Tensor& y, const Tensor& b) {
  check_matrix(y, kBiasAdd, "y");
  check_float_input(b, kBiasAdd, "b");
  check_same_device_dtype(y, {&b}, kBiasAdd);
  check_shape(b, {y.size(1)}, kBiasAdd, "b");
  check_no_overlap(y, "y", {&b}, kBiasAdd);
  bias_add_unchecked(y, b);
}

void bias_grad(const Tensor& dy, Tensor& db, bool accumulate) {
  check_matrix(dy, kBiasGrad, "dy");
  check_float_input(db, kBiasGrad, "db");
  check_same_device_dtype(dy, {&db}, kBiasGrad);
  check_shape(db, {dy.size(1)}, kBiasGrad, "db");
  check_no_overlap(db, "db", {&dy}, kBiasGrad);
  bias_grad_unchecked(dy, db, accumulate);
}

Tensor bias_grad(const Tensor& dy) {
  check_matrix(dy, kBiasGrad, "dy");
  Tensor db = Tensor::empty({dy.size(1)}, dy.dtype(), dy.device());
  bias_grad(dy, db, false);
  return db;
}

}  // namespace cudanet::kernels
