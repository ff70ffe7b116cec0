// Sequential: layers applied one after another; backward runs them in reverse (the chain rule).
//
// Each child has a name ("conv1"); parameters are named "<child>.<parameter>" ("conv1.weight"),
// the names checkpoints use.
//
// Note: the memory plan (docs/memory.md), on unless set_memory_plan(false).
//  - In place: forward runs child i through forward_inplace() (overwriting its input) when its
//    memory_traits say it can, its input is a buffer an earlier child made in this forward (never
//    the caller's x), and no child that made or passed on that buffer (a view, an identity) reads
//    it in its backward, by their memory_traits. inplace_plan() shows the decision. Results and
//    gradients are bitwise those of the unplanned network.
//  - Release: backward drops each child's saved tensors (release_saved()) as soon as that child's
//    backward has returned, so a second backward needs a new forward. A dead gradient is dropped
//    as soon as the next one is computed.
//  Layers called directly (tests, profiling, anomaly detection) never run in place.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "layers/layer.h"

namespace cudanet::layers {

class Sequential : public Layer {
 public:
  Sequential() = default;
  // Appends `layer` under `name` (unique, non-empty, no '.'); returns it for further set-up.
  Layer& add(const std::string& name, LayerPtr layer);
  template <typename L, typename... Args>
  L& emplace(const std::string& name, Args&&... args) {
    return static_cast<L&>(add(name, std::make_unique<L>(std::forward<Args>(args)...)));
  }

  const char* type() const override { return "Sequential"; }
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  // Backpropagates `dy` for the parameter gradients only: stops at the first layer that has
  // parameters and does not compute its input gradient (what a training step needs).
  void backward_parameters(const Tensor& dy);
  std::vector<Parameter*> parameters() override;
  std::vector<NamedTensor> buffers() override;
  std::vector<NamedTensor> state(const std::string& prefix) override;
  std::vector<std::pair<std::string, Parameter*>> named_parameters(
      const std::string& prefix) override;
  void set_backend(Backend backend) override;
  std::vector<Tensor> saved_tensors() const override;
  void release_saved() override;

  void set_memory_plan(bool on) { memory_plan_ = on; }
  bool memory_plan() const { return memory_plan_; }
  // For each child, whether forward on `device` runs it in place (all false with the plan off).
  std::vector<bool> inplace_plan(Device device) const;

  std::size_t size() const { return children_.size(); }
  const std::string& name(std::size_t i) const { return children_.at(i).first; }
  Layer& at(std::size_t i) { return *children_.at(i).second; }
  const Layer& at(std::size_t i) const { return *children_.at(i).second; }
  // The child called `name`; ValueError when there is none.
  Layer& child(const std::string& name);

 private:
  std::vector<std::pair<std::string, LayerPtr>> children_;
  bool memory_plan_ = true;
};

// Per-layer backend overrides after a network-wide choice: `spec` is a comma-separated list of
// "<layer>=<backend>" ("conv1=native,conv2=cudnn"); empty does nothing. ValueError naming the
// item for an unknown layer or backend or a malformed item (nothing is changed then).
void set_layer_backends(Sequential& net, const std::string& spec);

}  // namespace cudanet::layers
