#include "kernels/common.h"

#include <atomic>
#include <cstdlib>

namespace cudanet::kernels {

void check_float_input(const Tensor& t, const char* op, const char* name) {
  CUDANET_CHECK(t.defined(), ValueError, op, ": ", name, " is undefined");
  CUDANET_CHECK(t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64, ValueError, op, ": ",
                name, " has dtype ", t.dtype(), "; float32 or float64 is needed");
  CUDANET_CHECK(t.is_contiguous(), ValueError, op, ": ", name, " of shape ", shape_str(t.shape()),
                " is not contiguous (call contiguous() first)");
}

void check_dims(const Tensor& t, std::int64_t dims, const char* op, const char* name) {
  CUDANET_CHECK(t.dim() == dims, ShapeError, op, ": ", name, " must have ", dims,
                " dimensions, got shape ", shape_str(t.shape()));
}

void check_shape(const Tensor& t, const Shape& shape, const char* op, const char* name) {
  CUDANET_CHECK(t.shape() == shape, ShapeError, op, ": ", name, " has shape ", shape_str(t.shape()),
                ", expected ", shape_str(shape));
}

void check_same_device_dtype(const Tensor& ref, std::initializer_list<const Tensor*> others,
                             const char* op) {
  for (const Tensor* t : others) {
    if (t == nullptr || !t->defined()) continue;
    CUDANET_CHECK(t->device() == ref.device(), ValueError, op, ": tensors on different devices (",
                  ref.device(), " and ", t->device(), ")");
    CUDANET_CHECK(t->dtype() == ref.dtype(), ValueError, op, ": tensors of different dtypes (",
                  ref.dtype(), " and ", t->dtype(), ")");
  }
}

void check_positive(std::int64_t value, const char* op, const char* name, bool allow_zero) {
  CUDANET_CHECK(allow_zero ? value >= 0 : value > 0, ValueError, op, ": ", name, " must be ",
                allow_zero ? ">= 0" : "> 0", ", got ", value);
}

void throw_no_cuda(const char* op) {
  CUDANET_THROW(CudaError, op, ": CUDA tensors, but this cudanet was built without CUDA");
}

namespace {
std::atomic<bool>& deterministic_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("CUDANET_DETERMINISTIC");
    return env != nullptr && *env != '\0' && std::string(env) != "0";
  }();
  return flag;
}
}  // namespace

void set_deterministic(bool on) {
  deterministic_flag().store(on);
}
bool deterministic() {
  return deterministic_flag().load();
}

}  // namespace cudanet::kernels
