// Layers, Sequential, losses and the model zoo.
//
// Note: ownership. A layer made in Python is shared: Sequential.add wraps it in SharedLayer, a
// Layer that forwards to it, so the Python object and the network use the same parameters and
// the network keeps the Python object alive. Layers a model builds itself (the model zoo) stay
// owned by their Sequential; Python references to them keep the model alive.
#include <memory>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>
#include <set>
#include <string>

#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "layers/sequential.h"
#include "python/src/bindings.h"

// Sequential holds unique_ptrs: its implicit copy constructor exists but cannot be instantiated.
template <>
struct nanobind::detail::is_copy_constructible<cudanet::layers::Sequential> : std::false_type {};

namespace cudanet::python {
namespace {

using namespace cudanet::layers;
using nb::arg;
using Release = nb::gil_scoped_release;

class SharedLayer : public Layer {
 public:
  explicit SharedLayer(std::shared_ptr<Layer> inner) : inner_(std::move(inner)) {}
  const char* type() const override { return inner_->type(); }
  std::string describe() const override { return inner_->describe(); }
  Shape output_shape(const Shape& input) const override { return inner_->output_shape(input); }
  Tensor forward(const Tensor& x, Mode mode) override { return inner_->forward(x, mode); }
  Tensor backward(const Tensor& dy) override {
    inner_->set_input_grad(input_grad());
    return inner_->backward(dy);
  }
  std::vector<Parameter*> parameters() override { return inner_->parameters(); }
  std::vector<NamedTensor> buffers() override { return inner_->buffers(); }
  std::vector<NamedTensor> state(const std::string& prefix) override {
    return inner_->state(prefix);
  }
  std::vector<std::pair<std::string, Parameter*>> named_parameters(
      const std::string& prefix) override {
    return inner_->named_parameters(prefix);
  }
  void to(Device device) override { inner_->to(device); }
  // The memory plan (layers/sequential.h) sees the inner layer's traits: a Python-built network
  // runs its ReLUs in place and releases saved tensors as a zoo model does.
  MemoryTraits memory_traits(Device device, bool inplace) const override {
    return inner_->memory_traits(device, inplace);
  }
  Tensor forward_inplace(const Tensor& x, Mode mode) override {
    return inner_->forward_inplace(x, mode);
  }
  std::vector<Tensor> saved_tensors() const override { return inner_->saved_tensors(); }
  void release_saved() override { inner_->release_saved(); }
  Layer& inner() { return *inner_; }
  void set_backend(Backend backend) override {
    Layer::set_backend(backend);
    inner_->set_backend(backend);
  }

 private:
  std::shared_ptr<Layer> inner_;
};

Mode mode_of(bool train) {
  return train ? Mode::kTrain : Mode::kEval;
}

Layer& layer_to(Layer& layer, const std::string& target) {
  if (target.rfind("cpu", 0) == 0 || target.rfind("cuda", 0) == 0) {
    const Device d = parse_device(target);
    Release release;
    layer.to(d);
  } else {
    const DType t = parse_dtype(target);
    Release release;
    layer.to(t);
  }
  return layer;
}

// {name: numpy array} (copies on the host).
nb::dict state_dict(Layer& layer) {
  nb::dict out;
  for (const auto& nt : layer.state("")) {
    Tensor host;
    {
      Release release;
      host = nt.tensor->to(Device::cpu()).contiguous().clone();
    }
    out[nb::str(nt.name.c_str())] = nb::cast(host).attr("numpy")();
  }
  return out;
}

// Copies every entry of `state` (NumPy arrays, cudanet tensors or anything with __dlpack__) into
// the layer's tensors; ValueError for missing or unexpected names and for shapes that differ.
void load_state_dict(Layer& layer, const nb::dict& state) {
  nb::module_ cn = nb::module_::import_("cudanet");
  std::set<std::string> seen;
  std::vector<std::pair<Tensor*, Tensor>> copies;
  std::string missing;
  for (const auto& nt : layer.state("")) {
    nb::str key(nt.name.c_str());
    if (!state.contains(key)) {
      missing += (missing.empty() ? "" : ", ") + nt.name;
      continue;
    }
    seen.insert(nt.name);
    Tensor src = nb::cast<Tensor>(cn.attr("as_tensor")(state[key]));
    CUDANET_CHECK(src.shape() == nt.tensor->shape(), ValueError, "load_state_dict: '", nt.name,
                  "' has shape ", shape_str(src.shape()), ", the model's is ",
                  shape_str(nt.tensor->shape()));
    copies.emplace_back(nt.tensor, src);
  }
  CUDANET_CHECK(missing.empty(), ValueError, "load_state_dict: missing ", missing);
  for (auto item : state) {
    const std::string name = nb::cast<std::string>(nb::str(item.first));
    CUDANET_CHECK(seen.count(name) == 1, ValueError, "load_state_dict: unexpected '", name,
                  "' (not a parameter or buffer of this model)");
  }
  Release release;
  for (auto& [dst, src] : copies) dst->copy_(src.to(dst->dtype()).to(dst->device()));
}

nb::list named_parameters(Layer& layer, const std::string& prefix) {
  nb::list out;
  nb::object self = nb::find(&layer);
  for (auto& [name, p] : layer.named_parameters(prefix)) {
    out.append(nb::make_tuple(name, nb::cast(p, nb::rv_policy::reference_internal, self)));
  }
  return out;
}

void add_layer(Sequential& seq, const std::string& name, std::shared_ptr<Layer> layer) {
  CUDANET_CHECK(layer != nullptr, ValueError, "Sequential.add: layer '", name, "' is None");
  CUDANET_CHECK(layer.get() != &seq, ValueError, "Sequential.add: layer '", name,
                "' is the Sequential itself");
  seq.add(name, std::make_unique<SharedLayer>(std::move(layer)));
}

std::unique_ptr<Sequential> model(const std::string& name, ModelOptions o) {
  Release release;
  return make_model(name, default_generator(), o);
}

}  // namespace

void bind_nn(nb::module_& m) {
  nb::class_<Parameter>(m, "Parameter")
      .def_ro("name", &Parameter::name)
      .def_ro("value", &Parameter::value, "the parameter (shares memory with the layer's)")
      .def_ro("grad", &Parameter::grad, "the accumulated gradient")
      .def("__repr__", [](const Parameter& p) {
        return "Parameter(" + p.name + ", shape=" + shape_str(p.value.shape()) + ")";
      });

  nb::class_<Layer>(m, "Layer", "A step of a network: forward, backward, parameters.")
      .def_prop_ro("type", &Layer::type)
      .def("describe", &Layer::describe)
      .def("__repr__", &Layer::describe)
      .def(
          "output_shape",
          [](const Layer& l, nb::handle shape) {
            return shape_tuple(l.output_shape(to_shape(shape, "output_shape")));
          },
          arg("input_shape"))
      .def(
          "forward",
          [](Layer& l, const Tensor& x, bool train) { return l.forward(x, mode_of(train)); },
          arg("x"), arg("train") = false, nb::call_guard<Release>(),
          "The output for x; train=True keeps what backward needs (and applies dropout).")
      .def(
          "__call__",
          [](Layer& l, const Tensor& x, bool train) { return l.forward(x, mode_of(train)); },
          arg("x"), arg("train") = false, nb::call_guard<Release>())
      .def("backward", &Layer::backward, arg("dy"), nb::call_guard<Release>(),
           "dx for dy after a forward with train=True; adds the parameter gradients.")
      .def("parameters", &Layer::parameters, nb::rv_policy::reference_internal)
      .def("named_parameters", &named_parameters, arg("prefix") = "")
      .def("state_dict", &state_dict, "{name: numpy array} of parameters and buffers (copies).")
      .def("load_state_dict", &load_state_dict, arg("state"))
      .def("to", &layer_to, arg("target"), nb::rv_policy::reference,
           "Moves to a device ('cpu', 'cuda', 'cuda:N') or converts to a dtype; returns self.")
      .def("zero_grad", &Layer::zero_grad, nb::call_guard<Release>())
      .def("num_parameters", &Layer::num_parameters)
      .def(
          "set_backend", [](Layer& l, const std::string& b) { l.set_backend(parse_backend(b)); },
          arg("backend"), "'native' (hand-written kernels) or 'cudnn'.")
      .def_prop_ro("backend", [](const Layer& l) { return std::string(backend_name(l.backend())); })
      .def("saved_bytes", &Layer::saved_bytes,
           "Bytes of the tensors kept for backward since the last forward (each storage once).");

  nb::class_<Linear, Layer>(m, "Linear")
      .def(nb::init<std::int64_t, std::int64_t, bool>(), arg("in_features"), arg("out_features"),
           arg("bias") = true)
      .def_prop_ro("weight", &Linear::weight, nb::rv_policy::reference_internal)
      .def_prop_ro("bias", &Linear::bias, nb::rv_policy::reference_internal);
  nb::class_<Conv2d, Layer>(m, "Conv2d")
      .def(
          "__init__",
          [](Conv2d* self, std::int64_t in, std::int64_t out, nb::handle kernel_size,
             std::int64_t stride, std::int64_t padding, std::int64_t dilation, std::int64_t groups,
             bool bias) {
            const auto k = int_pair(kernel_size, "kernel_size", 1);
            Conv2dOptions o = Conv2dOptions::square(k[0]);
            o.kernel_w = k[1];
            o.stride_(stride).padding_(padding).dilation_(dilation).groups_(groups).bias_(bias);
            new (self) Conv2d(in, out, o);
          },
          arg("in_channels"), arg("out_channels"), arg("kernel_size"), arg("stride") = 1,
          arg("padding") = 0, arg("dilation") = 1, arg("groups") = 1, arg("bias") = true)
      .def_prop_ro("weight", &Conv2d::weight, nb::rv_policy::reference_internal)
      .def_prop_ro("bias", &Conv2d::bias, nb::rv_policy::reference_internal);
  nb::class_<ActivationLayer, Layer>(m, "_Activation");
  nb::class_<ReLU, ActivationLayer>(m, "ReLU").def(nb::init<>());
  nb::class_<LeakyReLU, ActivationLayer>(m, "LeakyReLU")
      .def(nb::init<double>(), arg("negative_slope") = 0.01);
  nb::class_<Sigmoid, ActivationLayer>(m, "Sigmoid").def(nb::init<>());
  nb::class_<Tanh, ActivationLayer>(m, "Tanh").def(nb::init<>());
  nb::class_<Softmax, Layer>(m, "Softmax").def(nb::init<>());
  nb::class_<Flatten, Layer>(m, "Flatten").def(nb::init<>());
  nb::class_<Pool2d, Layer>(m, "_Pool2d");
  nb::class_<MaxPool2d, Pool2d>(m, "MaxPool2d")
      .def(
          "__init__",
          [](MaxPool2d* self, std::int64_t k, nb::handle stride, std::int64_t padding) {
            new (self) MaxPool2d(k, stride.is_none() ? 0 : nb::cast<std::int64_t>(stride), padding);
          },
          arg("kernel_size"), arg("stride") = nb::none(), arg("padding") = 0);
  nb::class_<AvgPool2d, Pool2d>(m, "AvgPool2d")
      .def(
          "__init__",
          [](AvgPool2d* self, std::int64_t k, nb::handle stride, std::int64_t padding) {
            new (self) AvgPool2d(k, stride.is_none() ? 0 : nb::cast<std::int64_t>(stride), padding);
          },
          arg("kernel_size"), arg("stride") = nb::none(), arg("padding") = 0);
  nb::class_<LocalResponseNorm, Layer>(m, "LocalResponseNorm")
      .def(nb::init<std::int64_t, double, double, double>(), arg("size") = 5, arg("alpha") = 1e-4,
           arg("beta") = 0.75, arg("k") = 1.0);
  nb::class_<BatchNorm2d, Layer>(m, "BatchNorm2d")
      .def(nb::init<std::int64_t, double, double>(), arg("num_features"), arg("eps") = 1e-5,
           arg("momentum") = 0.1);
  nb::class_<Dropout, Layer>(m, "Dropout").def(nb::init<double>(), arg("p") = 0.5);

  nb::class_<Sequential, Layer>(m, "Sequential")
      .def(
          "__init__",
          [](Sequential* self, nb::args layers) {
            new (self) Sequential();
            std::size_t i = 0;
            for (nb::handle item : layers) {
              if (nb::isinstance<nb::tuple>(item) && nb::len(item) == 2) {
                add_layer(*self, nb::cast<std::string>(item[0]),
                          nb::cast<std::shared_ptr<Layer>>(item[1]));
              } else {
                add_layer(*self, std::to_string(i), nb::cast<std::shared_ptr<Layer>>(item));
              }
              ++i;
            }
          },
          "Sequential(layer, ...) names the layers '0', '1', ...; Sequential(('conv1', layer), "
          "...) names them.")
      .def("add", &add_layer, arg("name"), arg("layer"))
      .def("__repr__",
           [](const Sequential& s) {
             std::string r = "Sequential(";
             for (std::size_t i = 0; i < s.size(); ++i) {
               r += "\n  (" + s.name(i) + "): " + s.at(i).describe();
             }
             return r + (s.size() > 0 ? "\n)" : ")");
           })
      .def("__len__", &Sequential::size)
      .def("names",
           [](const Sequential& s) {
             std::vector<std::string> names;
             for (std::size_t i = 0; i < s.size(); ++i) names.push_back(s.name(i));
             return names;
           })
      .def(
          "__getitem__",
          [](Sequential& s, nb::handle key) -> Layer& {
            Layer* layer;
            if (PyLong_Check(key.ptr())) {
              auto i = nb::cast<std::int64_t>(key);
              const auto n = static_cast<std::int64_t>(s.size());
              if (i < 0) i += n;
              if (i < 0 || i >= n) throw nb::index_error("Sequential index out of range");
              layer = &s.at(static_cast<std::size_t>(i));
            } else {
              layer = &s.child(nb::cast<std::string>(key));
            }
            // A layer made in Python comes back as itself (its Python object).
            auto* shared = dynamic_cast<SharedLayer*>(layer);
            return shared != nullptr ? shared->inner() : *layer;
          },
          nb::rv_policy::reference_internal)
      .def("backward_parameters", &Sequential::backward_parameters, arg("dy"),
           nb::call_guard<Release>(),
           "Backpropagates dy for the parameter gradients only (what a training step needs).")
      .def_prop_rw("memory_plan", &Sequential::memory_plan, &Sequential::set_memory_plan,
                   "In-place ReLUs and saved tensors released during backward (docs/memory.md); "
                   "on by default. With it, each backward needs its own forward.")
      .def(
          "inplace_plan",
          [](const Sequential& s, const std::string& device) {
            const std::vector<bool> plan = s.inplace_plan(parse_device(device));
            std::vector<std::string> names;
            for (std::size_t i = 0; i < plan.size(); ++i) {
              if (plan[i]) names.push_back(s.name(i));
            }
            return names;
          },
          arg("device") = "cpu", "The names of the layers the planned forward runs in place.");

  nb::class_<Loss>(m, "Loss")
      .def("forward", &Loss::forward, arg("output"), arg("target"), nb::call_guard<Release>())
      .def("__call__", &Loss::forward, arg("output"), arg("target"), nb::call_guard<Release>())
      .def("backward", &Loss::backward, nb::call_guard<Release>());
  nb::class_<CrossEntropyLoss, Loss>(m, "CrossEntropyLoss").def(nb::init<>());
  nb::class_<MSELoss, Loss>(m, "MSELoss").def(nb::init<>());

  m.def(
      "make_model",
      [](const std::string& name, std::int64_t num_classes, std::vector<std::int64_t> hidden,
         double dropout) {
        ModelOptions o;
        o.num_classes = num_classes;
        if (!hidden.empty()) o.mlp_hidden = std::move(hidden);
        o.dropout = dropout;
        return model(name, o);
      },
      arg("name"), arg("num_classes") = 0, arg("hidden") = std::vector<std::int64_t>{},
      arg("dropout") = 0.5, "A model of the zoo: 'mlp', 'lenet5', 'alexnet', 'alexnet-owt'.");
  m.def("model_names", &model_names);
  m.def("model_input_shape",
        [](const std::string& name) { return shape_tuple(model_input_shape(name)); });
  m.def(
      "summary",
      [](Sequential& s, nb::handle input, std::int64_t batch) {
        return layers::summary(s, to_shape(input, "summary"), batch);
      },
      arg("model"), arg("input_shape"), arg("batch") = 1);
}

}  // namespace cudanet::python
