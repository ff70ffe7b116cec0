// Reductions: argument checks and device dispatch.
#include "kernels/reduce.h"

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

void check_nonempty(const Tensor& x, const char* op) {
  CUDANET_CHECK(x.numel() > 0, ValueError, op, ": x of shape ", shape_str(x.shape()),
                " has no elements");
}

void check_matrix(const Tensor& x, const char* op) {
  check_float_input(x, op, "x");
  check_dims(x, 2, op, "x");
}

Tensor scaled_sum(const Tensor& x, double scale, [[maybe_unused]] const char* op) {
  Tensor out = Tensor::empty({}, x.dtype(), x.device());
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::sum_all(x.data<T>(), x.numel(), scale, out.data<T>());
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::sum_all(x.data_ptr(), x.numel(), scale, out.data_ptr(), x.dtype(),
                  current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return out;
}

// The maximum (into value) or its index (into index); the other output is undefined.
void max_impl(const Tensor& x, Tensor* value, Tensor* index, const char* op) {
  check_float_input(x, op, "x");
  check_nonempty(x, op);
  if (value != nullptr) *value = Tensor::empty({}, x.dtype(), x.device());
  if (index != nullptr) *index = Tensor::empty({}, DType::kInt64, x.device());
  void* v = value != nullptr ? value->data_ptr() : nullptr;
  auto* i = index != nullptr ? index->data<std::int64_t>() : nullptr;
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::argmax_all(x.data<T>(), x.numel(), static_cast<T*>(v), i);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::argmax_all(x.data_ptr(), x.numel(), v, i, x.dtype(), current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
}

}  // namespace

Tensor sum_all(const Tensor& x) {
  check_float_input(x, "sum_all", "x");
  return scaled_sum(x, 1.0, "sum_all");
}

Tensor mean_all(const Tensor& x) {
  check_float_input(x, "mean_all", "x");
  check_nonempty(x, "mean_all");
  return scaled_sum(x, 1.0 / static_cast<double>(x.numel()), "mean_all");
}

Tensor max_all(const Tensor& x) {
  Tensor value;
  max_impl(x, &value, nullptr, "max_all");
  return value;
}

Tensor argmax_all(const Tensor& x) {
  Tensor index;
  max_impl(x, nullptr, &index, "argmax_all");
  return index;
}

Tensor sum_dim0(const Tensor& x) {
  const char* op = "sum_dim0";
  check_matrix(x, op);
  const std::int64_t rows = x.size(0), cols = x.size(1);
  Tensor out = Tensor::empty({cols}, x.dtype(), x.device());
  if (cols == 0) return out;
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::sum_dim0(x.data<T>(), out.data<T>(), rows, cols);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::sum_dim0(x.data_ptr(), out.data_ptr(), rows, cols, x.dtype(), current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return out;
}

Tensor argmax_dim1(const Tensor& x) {
  const char* op = "argmax_dim1";
  check_matrix(x, op);
  const std::int64_t rows = x.size(0), cols = x.size(1);
  CUDANET_CHECK(cols > 0, ValueError, op, ": x of shape ", shape_str(x.shape()), " has empty rows");
  Tensor out = Tensor::empty({rows}, DType::kInt64, x.device());
  if (rows == 0) return out;
  if (x.device().is_cpu()) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::argmax_dim1(x.data<T>(), out.data<std::int64_t>(), rows, cols);
    });
  } else {
#if CUDANET_WITH_CUDA
    cuda::argmax_dim1(x.data_ptr(), out.data<std::int64_t>(), rows, cols, x.dtype(),
                      current_stream(x.device()));
#else
    throw_no_cuda(op);
#endif
  }
  return out;
}

}  // namespace cudanet::kernels
