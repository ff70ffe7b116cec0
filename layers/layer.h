// Layer: one step of a network, with the backpropagation algorithm's two passes.
//
// A Layer owns its named parameters (each a value and a gradient buffer of the same shape and
// device), infers its output shape from an input shape, runs forward(x, mode) keeping what its
// backward needs, and backward(dy) returning dx = dL/dx while ADDING dL/dparam into each
// parameter's gradient (so gradients accumulate until zero_grad()).
//
// Note: a layer computes on the device of its input, which must be its parameters' device
// (to() moves them). backward() must follow a forward() in training mode on the same layer;
// calling it otherwise throws ValueError.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cudanet::layers {

enum class Mode { kTrain, kEval };

// Which GPU kernels a layer runs: the hand-written ones (convolution, pooling, ... and the
// hand-written SGEMM for fully connected layers), or cuDNN for what it covers and cuBLAS for the
// fully connected layers (kernels/cudnn.h). Layers cuDNN does not cover (dropout, flatten, leaky
// ReLU, an LRN of even size) run the native kernels under either. On CPU tensors the CPU kernels
// run whatever the backend. A build without cuDNN refuses kCudnn with a ValueError saying so.
enum class Backend { kNative, kCudnn };
const char* backend_name(Backend b);             // "native", "cudnn"
Backend parse_backend(const std::string& name);  // ValueError for anything else

// What a layer's forward leaves behind for its backward, declared so that a planner (Sequential,
// see layers/sequential.h) can decide which buffers may be overwritten in place. The defaults are
// the safe answer for a layer that does not say: its backward reads both its input and its output,
// and its output may share storage with its input.
struct MemoryTraits {
  bool backward_reads_input = true;   // backward reads the forward's input tensor
  bool backward_reads_output = true;  // backward reads the forward's output tensor
  bool output_aliases_input = true;   // the output may be (a view of) the input's storage
  bool supports_inplace = false;      // forward_inplace() may overwrite the input with the output
};

struct Parameter {
  std::string name;  // "weight", "bias"
  Tensor value;
  Tensor grad;
};

// A parameter or buffer with its full name in a network ("conv1.weight").
struct NamedTensor {
  std::string name;
  Tensor* tensor;
};

class Layer {
 public:
  virtual ~Layer() = default;

  virtual const char* type() const = 0;
  // A one-line description with the layer's settings, e.g. "Conv2d(3, 96, kernel=11, stride=4)".
  virtual std::string describe() const { return type(); }
  // The output shape for an input of `input` shape; ShapeError when the input does not fit.
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual Tensor forward(const Tensor& x, Mode mode) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;

  // ---- memory plan (docs/memory.md) ----
  // What backward reads on `device`, when forward ran normally or (inplace) through
  // forward_inplace(). Only meaningful where supports_inplace is true for the latter.
  virtual MemoryTraits memory_traits(Device device, bool inplace) const;
  // The forward, writing the output over x's storage and returning it (same shape). Only a caller
  // that knows nobody else reads x again calls it (Sequential's planned forward); layers whose
  // traits do not say supports_inplace throw ValueError.
  virtual Tensor forward_inplace(const Tensor& x, Mode mode);
  // The tensors this layer holds for its backward (for accounting; may share storage).
  virtual std::vector<Tensor> saved_tensors() const { return {}; }
  // The bytes of distinct storages in saved_tensors().
  std::int64_t saved_bytes() const;
  // Drops what forward saved: backward then throws as after no forward. Sequential calls it once
  // a child's backward has returned, so dead activations go back to the allocator at once.
  virtual void release_saved() {}

  virtual std::vector<Parameter*> parameters() { return {}; }
  // State that is saved with the model but not trained (BatchNorm's running statistics).
  virtual std::vector<NamedTensor> buffers() { return {}; }
  // Parameters (value) and buffers with their names under `prefix` ("conv1." + "weight").
  virtual std::vector<NamedTensor> state(const std::string& prefix);
  virtual std::vector<std::pair<std::string, Parameter*>> named_parameters(
      const std::string& prefix);

  // Moves parameters, gradients and buffers to `device`.
  virtual void to(Device device);
  // Converts parameters, gradients and buffers to `dtype` (float32 or float64).
  void to(DType dtype);
  // ValueError for kCudnn in a build without cuDNN.
  virtual void set_backend(Backend backend);
  Backend backend() const { return backend_; }
  // Whether backward() must return dx. A network's first layer has no use for it (nothing is
  // below it): turning it off there saves a whole backward-data pass. Layers that would do
  // extra work for dx honour it and then return an undefined tensor.
  void set_input_grad(bool on) { input_grad_ = on; }
  bool input_grad() const { return input_grad_; }
  void zero_grad();
  std::int64_t num_parameters();

 protected:
  // Throws ValueError naming the layer unless forward saved what backward needs.
  void require_saved(const Tensor& saved, const char* what) const;
  // Adds `g` into the gradient of `p`.
  static void accumulate(Parameter& p, const Tensor& g);
  // Creates a parameter of `shape` (zero value and gradient) on the CPU.
  static Parameter make_parameter(const char* name, const Shape& shape);
  // Whether this call runs on cuDNN: the cudnn backend and a CUDA tensor.
  bool use_cudnn(const Tensor& x) const {
    return backend_ == Backend::kCudnn && x.defined() && x.device().is_cuda();
  }

  Backend backend_ = Backend::kNative;
  bool input_grad_ = true;
};

using LayerPtr = std::unique_ptr<Layer>;

// The bytes of the distinct storages among `tensors` (undefined ones ignored).
std::int64_t distinct_storage_bytes(const std::vector<Tensor>& tensors);

}  // namespace cudanet::layers
