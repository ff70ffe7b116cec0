#include "layers/layer.h"

#include <set>

#include "core/config.h"
#include "kernels/cudnn.h"
#include "kernels/elementwise.h"

namespace cudanet::layers {

const char* backend_name(Backend b) {
  return b == Backend::kNative ? "native" : "cudnn";
}

Backend parse_backend(const std::string& name) {
  if (name == "native") return Backend::kNative;
  if (name == "cudnn") return Backend::kCudnn;
  CUDANET_THROW(ValueError, "unknown backend '", name, "': expected native or cudnn");
}

std::vector<NamedTensor> Layer::state(const std::string& prefix) {
  std::vector<NamedTensor> out;
  for (Parameter* p : parameters()) out.push_back({prefix + p->name, &p->value});
  for (const NamedTensor& b : buffers()) out.push_back({prefix + b.name, b.tensor});
  return out;
}

std::vector<std::pair<std::string, Parameter*>> Layer::named_parameters(const std::string& prefix) {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (Parameter* p : parameters()) out.emplace_back(prefix + p->name, p);
  return out;
}

void Layer::to(Device device) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(device);
    p->grad = p->grad.to(device);
  }
  for (const NamedTensor& b : buffers()) *b.tensor = b.tensor->to(device);
}

void Layer::to(DType dtype) {
  CUDANET_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64, ValueError, type(),
                ": layers compute in float32 or float64, not ", dtype);
  for (Parameter* p : parameters()) {
    p->value = p->value.to(dtype);
    p->grad = p->grad.to(dtype);
  }
  for (const NamedTensor& b : buffers()) *b.tensor = b.tensor->to(dtype);
}

void Layer::set_backend(Backend backend) {
  if (backend == Backend::kCudnn) kernels::cudnn::require_available(type());
  backend_ = backend;
}

void Layer::zero_grad() {
  for (Parameter* p : parameters()) p->grad.zero_();
}

std::int64_t Layer::num_parameters() {
  std::int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

MemoryTraits Layer::memory_traits(Device, bool) const {
  return {};
}

Tensor Layer::forward_inplace(const Tensor&, Mode) {
  CUDANET_THROW(ValueError, type(), ": this layer does not run in place");
}

std::int64_t Layer::saved_bytes() const {
  return distinct_storage_bytes(saved_tensors());
}

std::int64_t distinct_storage_bytes(const std::vector<Tensor>& tensors) {
  std::set<const void*> seen;
  std::int64_t bytes = 0;
  for (const Tensor& t : tensors) {
    if (!t.defined() || !seen.insert(t.storage().data()).second) continue;
    bytes += static_cast<std::int64_t>(t.storage().nbytes());
  }
  return bytes;
}

void Layer::require_saved(const Tensor& saved, const char* what) const {
  CUDANET_CHECK(saved.defined(), ValueError, type(), ".backward: no ", what,
                " saved; run forward in training mode first");
}

void Layer::accumulate(Parameter& p, const Tensor& g) {
  kernels::axpy(1.0, g, p.grad);
}

Parameter Layer::make_parameter(const char* name, const Shape& shape) {
  return Parameter{name, Tensor::zeros(shape), Tensor::zeros(shape)};
}

}  // namespace cudanet::layers
