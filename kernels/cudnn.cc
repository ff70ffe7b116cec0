// The cuDNN backend's settings (always built), and, in a build without cuDNN, the ops as stubs
// that say so (see kernels/cudnn.h).
#include "kernels/cudnn.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "core/error.h"

namespace cudanet::kernels::cudnn {

namespace {

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
}

std::atomic<bool>& benchmark_flag() {
  static std::atomic<bool> flag{env_on("CUDANET_CUDNN_BENCHMARK")};
  return flag;
}

std::atomic<std::size_t>& limit() {
  static std::atomic<std::size_t> bytes{std::size_t{1} << 30};
  return bytes;
}

}  // namespace

bool available() {
  return CUDANET_WITH_CUDNN != 0;
}

void require_available(const char* who) {
  CUDANET_CHECK(available(), ValueError, who,
                ": the cudnn backend was requested, but this cudanet was built without cuDNN "
                "(CUDANET_WITH_CUDNN=0: cuDNN not found or CUDANET_CUDNN=OFF); use the native "
                "backend or rebuild with cuDNN");
}

void set_benchmark(bool on) {
  benchmark_flag() = on;
}

bool benchmark() {
  return benchmark_flag();
}

void set_workspace_limit(std::size_t bytes) {
  limit() = bytes;
}

std::size_t workspace_limit() {
  return limit();
}

#if !CUDANET_WITH_CUDNN
// ---- a build without cuDNN: every op says so ----------------------------------------------------

std::string version() {
  return "not built";
}
std::size_t algorithm_cache_size() {
  return 0;
}
void clear_algorithm_cache() {}
std::size_t handle_count() {
  return 0;
}
std::string chosen_algorithm(const std::string&, const Conv2dGeometry&) {
  return "";
}

namespace {
[[noreturn]] void unavailable(const char* op) {
  require_available(op);
  CUDANET_THROW(ValueError, op, ": cuDNN is not available");  // not reached
}
}  // namespace

Shape conv2d_output_shape(const Shape&, const Shape&, const Conv2dParams&) {
  unavailable("cudnn::conv2d_output_shape");
}
Shape pool2d_output_shape(PoolKind, const Shape&, const Pool2dParams&) {
  unavailable("cudnn::pool2d_output_shape");
}

Tensor conv2d_forward(const Tensor&, const Tensor&, const Tensor*, const Conv2dParams&) {
  unavailable("cudnn::conv2d_forward");
}
Tensor conv2d_backward_data(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&) {
  unavailable("cudnn::conv2d_backward_data");
}
Tensor conv2d_backward_filter(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&) {
  unavailable("cudnn::conv2d_backward_filter");
}
Tensor conv2d_backward_bias(const Tensor&) {
  unavailable("cudnn::conv2d_backward_bias");
}
Tensor pool2d_forward(PoolKind, const Tensor&, const Pool2dParams&) {
  unavailable("cudnn::pool2d_forward");
}
Tensor pool2d_backward(PoolKind, const Tensor&, const Tensor&, const Tensor&, const Pool2dParams&) {
  unavailable("cudnn::pool2d_backward");
}
bool supports(Activation) {
  return false;
}
Tensor activation_forward(Activation, const Tensor&) {
  unavailable("cudnn::activation_forward");
}
Tensor activation_backward(Activation, const Tensor&, const Tensor&, const Tensor&) {
  unavailable("cudnn::activation_backward");
}
bool supports(const LrnParams&) {
  return false;
}
Tensor lrn_forward(const Tensor&, const LrnParams&) {
  unavailable("cudnn::lrn_forward");
}
Tensor lrn_backward(const Tensor&, const Tensor&, const Tensor&, const LrnParams&) {
  unavailable("cudnn::lrn_backward");
}
Tensor softmax_forward(const Tensor&) {
  unavailable("cudnn::softmax_forward");
}
Tensor softmax_backward(const Tensor&, const Tensor&) {
  unavailable("cudnn::softmax_backward");
}
Tensor batchnorm_forward_training(const Tensor&, const Tensor&, const Tensor&, Tensor*, Tensor*,
                                  const BatchNormParams&, Tensor*, Tensor*) {
  unavailable("cudnn::batchnorm_forward_training");
}
Tensor batchnorm_forward_inference(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                   const Tensor&, const BatchNormParams&) {
  unavailable("cudnn::batchnorm_forward_inference");
}
BatchNormGrads batchnorm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const BatchNormParams&) {
  unavailable("cudnn::batchnorm_backward");
}
#endif

}  // namespace cudanet::kernels::cudnn
