#include "layers/sequential.h"

#include <utility>

#include "core/nvtx.h"

namespace cudanet::layers {

Layer& Sequential::add(const std::string& name, LayerPtr layer) {
  CUDANET_CHECK(layer != nullptr, ValueError, "Sequential.add: layer '", name, "' is null");
  CUDANET_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
                "Sequential.add: invalid layer name '", name, "' (non-empty, without '.')");
  for (const auto& c : children_) {
    CUDANET_CHECK(c.first != name, ValueError, "Sequential.add: duplicate layer name '", name, "'");
  }
  children_.emplace_back(name, std::move(layer));
  return *children_.back().second;
}

Shape Sequential::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& c : children_) s = c.second->output_shape(s);
  return s;
}

std::vector<bool> Sequential::inplace_plan(Device device) const {
  std::vector<bool> plan(children_.size(), false);
  if (!memory_plan_) return plan;
  // The current buffer h: whether a child made it (not the caller), and whether the backward of
  // a child that made it or passed it on reads it.
  bool made_here = false;
  bool read = true;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    const Layer& layer = *children_[i].second;
    const MemoryTraits normal = layer.memory_traits(device, false);
    plan[i] = made_here && !read && normal.supports_inplace;
    const MemoryTraits t = plan[i] ? layer.memory_traits(device, true) : normal;
    if (plan[i] || t.output_aliases_input) {
      // The output is (or may be) the same buffer, with one more child that may read it.
      read = read || t.backward_reads_input || t.backward_reads_output;
    } else {
      made_here = true;
      read = t.backward_reads_output;
    }
  }
  return plan;
}

Tensor Sequential::forward(const Tensor& x, Mode mode) {
  const std::vector<bool> plan = inplace_plan(x.device());
  Tensor h = x;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    CUDANET_RANGE((children_[i].first + "/forward").c_str());
    Layer& layer = *children_[i].second;
    h = plan[i] ? layer.forward_inplace(h, mode) : layer.forward(h, mode);
  }
  return h;
}

Tensor Sequential::backward(const Tensor& dy) {
  Tensor g = dy;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    CUDANET_RANGE((it->first + "/backward").c_str());
    g = it->second->backward(g);
    if (memory_plan_) it->second->release_saved();
  }
  return g;
}

std::vector<Tensor> Sequential::saved_tensors() const {
  std::vector<Tensor> out;
  for (const auto& c : children_) {
    for (Tensor& t : c.second->saved_tensors()) out.push_back(std::move(t));
  }
  return out;
}

void Sequential::release_saved() {
  for (auto& c : children_) c.second->release_saved();
}

void Sequential::backward_parameters(const Tensor& dy) {
  std::size_t first = children_.size();
  for (std::size_t i = 0; i < children_.size() && first == children_.size(); ++i) {
    if (!children_[i].second->parameters().empty()) first = i;
  }
  Tensor g = dy;
  for (std::size_t i = children_.size(); i-- > first;) {
    Layer& layer = *children_[i].second;
    CUDANET_RANGE((children_[i].first + "/backward").c_str());
    if (i == first) {
      const bool was = layer.input_grad();
      layer.set_input_grad(false);
      try {
        layer.backward(g);
      } catch (...) {
        layer.set_input_grad(was);
        throw;
      }
      layer.set_input_grad(was);
      // The children below `first` have no parameters: their saved tensors are dead too.
      if (memory_plan_) {
        for (std::size_t j = 0; j <= first; ++j) children_[j].second->release_saved();
      }
      return;
    }
    g = layer.backward(g);
    if (memory_plan_) layer.release_saved();
  }
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> out;
  for (auto& c : children_) {
    for (Parameter* p : c.second->parameters()) out.push_back(p);
  }
  return out;
}

std::vector<NamedTensor> Sequential::buffers() {
  std::vector<NamedTensor> out;
  for (auto& c : children_) {
    for (const NamedTensor& b : c.second->buffers()) out.push_back(b);
  }
  return out;
}

std::vector<NamedTensor> Sequential::state(const std::string& prefix) {
  std::vector<NamedTensor> out;
  for (auto& c : children_) {
    for (const NamedTensor& t : c.second->state(prefix + c.first + ".")) out.push_back(t);
  }
  return out;
}

std::vector<std::pair<std::string, Parameter*>> Sequential::named_parameters(
    const std::string& prefix) {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (auto& c : children_) {
    for (auto& p : c.second->named_parameters(prefix + c.first + ".")) out.push_back(p);
  }
  return out;
}

void Sequential::set_backend(Backend backend) {
  for (auto& c : children_) c.second->set_backend(backend);
  backend_ = backend;
}

void set_layer_backends(Sequential& net, const std::string& spec) {
  std::vector<std::pair<Layer*, Backend>> changes;
  std::size_t begin = 0;
  while (begin < spec.size()) {
    std::size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(begin, end - begin);
    const std::size_t eq = item.find('=');
    CUDANET_CHECK(eq != std::string::npos && eq > 0, ValueError, "layer backends: '", item,
                  "' is not <layer>=<backend> (in '", spec, "')");
    changes.emplace_back(&net.child(item.substr(0, eq)), parse_backend(item.substr(eq + 1)));
    begin = end + 1;
  }
  for (auto& c : changes) c.first->set_backend(c.second);
}

Layer& Sequential::child(const std::string& name) {
  for (auto& c : children_) {
    if (c.first == name) return *c.second;
  }
  CUDANET_THROW(ValueError, "Sequential: no layer named '", name, "'");
}

}  // namespace cudanet::layers
