#include "layers/models.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/normalization.h"

namespace cudanet::layers {

namespace {

using C = Conv2dOptions;

std::unique_ptr<Sequential> mlp(Generator* g, const ModelOptions& o) {
  auto m = std::make_unique<Sequential>();
  m->emplace<Flatten>("flatten");
  std::int64_t in = 28 * 28;
  for (std::size_t i = 0; i < o.mlp_hidden.size(); ++i) {
    m->emplace<Linear>(detail::str("fc", i + 1), in, o.mlp_hidden[i], true, g);
    m->emplace<ReLU>(detail::str("relu", i + 1));
    in = o.mlp_hidden[i];
  }
  m->emplace<Linear>(detail::str("fc", o.mlp_hidden.size() + 1), in, o.num_classes, true, g);
  return m;
}

// C1 6@28×28 (5×5, input padded by 2), S2, C3 16@10×10, S4, C5 120, F6 84, output.
std::unique_ptr<Sequential> lenet5(Generator* g, const ModelOptions& o) {
  auto m = std::make_unique<Sequential>();
  m->emplace<Conv2d>("c1", 1, 6, C::square(5).padding_(2), g);
  m->emplace<ReLU>("relu1");
  m->emplace<MaxPool2d>("s2", 2);
  m->emplace<Conv2d>("c3", 6, 16, C::square(5), g);
  m->emplace<ReLU>("relu3");
  m->emplace<MaxPool2d>("s4", 2);
  m->emplace<Conv2d>("c5", 16, 120, C::square(5), g);
  m->emplace<ReLU>("relu5");
  m->emplace<Flatten>("flatten");
  m->emplace<Linear>("f6", 120, 84, true, g);
  m->emplace<ReLU>("relu6");
  m->emplace<Linear>("output", 84, o.num_classes, true, g);
  return m;
}

// AlexNet weights: N(0, 0.01) for fully connected layers and Kaiming-normal for convolutions
// (fan_out, ReLU gain), biases zero — trains from scratch without the original's tuning.
void init_alexnet(Sequential& m, Generator& g) {
  for (std::size_t i = 0; i < m.size(); ++i) {
    Layer& l = m.at(i);
    if (auto* conv = dynamic_cast<Conv2d*>(&l)) {
      const Shape& w = conv->weight().value.shape();
      const double fan_out = static_cast<double>(w[0] * w[2] * w[3]);
      conv->weight().value.normal_(0.0, std::sqrt(2.0 / fan_out), g);
      conv->bias().value.zero_();
    } else if (auto* fc = dynamic_cast<Linear*>(&l)) {
      fc->weight().value.normal_(0.0, 0.01, g);
      fc->bias().value.zero_();
    }
  }
}

void alexnet_classifier(Sequential& m, const ModelOptions& o, std::int64_t in) {
  m.emplace<Flatten>("flatten");
  m.emplace<Linear>("fc6", in, 4096, true, nullptr);
  m.emplace<ReLU>("relu6");
  m.emplace<Dropout>("drop6", o.dropout);
  m.emplace<Linear>("fc7", 4096, 4096, true, nullptr);
  m.emplace<ReLU>("relu7");
  m.emplace<Dropout>("drop7", o.dropout);
  m.emplace<Linear>("fc8", 4096, o.num_classes, true, nullptr);
}

// The seed's figure: 227×227×3 → 96@55×55 → pool → 256@27×27 → pool → 384 → 384 → 256@13×13 →
// pool → 9216 → 4096 → 4096 → classes, with LRN after the first two convolutions.
std::unique_ptr<Sequential> alexnet(Generator* g, const ModelOptions& o) {
  auto m = std::make_unique<Sequential>();
  m->emplace<Conv2d>("conv1", 3, 96, C::square(11).stride_(4), nullptr);
  m->emplace<ReLU>("relu1");
  m->emplace<LocalResponseNorm>("lrn1", 5, 1e-4, 0.75, 2.0);
  m->emplace<MaxPool2d>("pool1", 3, 2);
  m->emplace<Conv2d>("conv2", 96, 256, C::square(5).padding_(2), nullptr);
  m->emplace<ReLU>("relu2");
  m->emplace<LocalResponseNorm>("lrn2", 5, 1e-4, 0.75, 2.0);
  m->emplace<MaxPool2d>("pool2", 3, 2);
  m->emplace<Conv2d>("conv3", 256, 384, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu3");
  m->emplace<Conv2d>("conv4", 384, 384, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu4");
  m->emplace<Conv2d>("conv5", 384, 256, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu5");
  m->emplace<MaxPool2d>("pool5", 3, 2);
  alexnet_classifier(*m, o, 256 * 6 * 6);
  if (g != nullptr) init_alexnet(*m, *g);
  return m;
}

// torchvision's AlexNet ("one weird trick"): 64-192-384-256-256 channels, 224×224 input.
std::unique_ptr<Sequential> alexnet_owt(Generator* g, const ModelOptions& o) {
  auto m = std::make_unique<Sequential>();
  m->emplace<Conv2d>("conv1", 3, 64, C::square(11).stride_(4).padding_(2), nullptr);
  m->emplace<ReLU>("relu1");
  m->emplace<MaxPool2d>("pool1", 3, 2);
  m->emplace<Conv2d>("conv2", 64, 192, C::square(5).padding_(2), nullptr);
  m->emplace<ReLU>("relu2");
  m->emplace<MaxPool2d>("pool2", 3, 2);
  m->emplace<Conv2d>("conv3", 192, 384, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu3");
  m->emplace<Conv2d>("conv4", 384, 256, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu4");
  m->emplace<Conv2d>("conv5", 256, 256, C::square(3).padding_(1), nullptr);
  m->emplace<ReLU>("relu5");
  m->emplace<MaxPool2d>("pool5", 3, 2);
  alexnet_classifier(*m, o, 256 * 6 * 6);
  if (g != nullptr) init_alexnet(*m, *g);
  return m;
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"mlp", "lenet5", "alexnet", "alexnet-owt"};
  return names;
}

Shape model_input_shape(const std::string& name) {
  if (name == "mlp" || name == "lenet5") return {1, 28, 28};
  if (name == "alexnet") return {3, 227, 227};
  if (name == "alexnet-owt") return {3, 224, 224};
  CUDANET_THROW(ValueError, "unknown model '", name,
                "': expected mlp, lenet5, alexnet or alexnet-owt");
}

std::unique_ptr<Sequential> make_model(const std::string& name, Generator& g,
                                       const ModelOptions& options) {
  model_input_shape(name);  // validates the name
  ModelOptions o = options;
  const bool imagenet = name == "alexnet" || name == "alexnet-owt";
  if (o.num_classes == 0) o.num_classes = imagenet ? 1000 : 10;
  CUDANET_CHECK(o.num_classes > 0, ValueError, "model ", name, ": num_classes must be > 0, got ",
                o.num_classes);
  for (std::int64_t h : o.mlp_hidden) {
    CUDANET_CHECK(h > 0, ValueError, "mlp: hidden sizes must be > 0, got ", h);
  }
  Generator* init = o.initialize ? &g : nullptr;
  if (name == "mlp") return mlp(init, o);
  if (name == "lenet5") return lenet5(init, o);
  if (name == "alexnet") return alexnet(init, o);
  return alexnet_owt(init, o);
}

std::string summary(Sequential& model, const Shape& input, std::int64_t batch) {
  Shape shape = {batch};
  shape.insert(shape.end(), input.begin(), input.end());
  std::ostringstream os;
  os << std::left << std::setw(10) << "layer" << std::setw(46) << "type" << std::setw(22)
     << "output" << std::right << std::setw(14) << "parameters"
     << "\n";
  os << std::string(92, '-') << "\n";
  os << std::left << std::setw(10) << "input" << std::setw(46) << "" << std::setw(22)
     << shape_str(shape) << std::right << std::setw(14) << 0 << "\n";
  for (std::size_t i = 0; i < model.size(); ++i) {
    Layer& l = model.at(i);
    shape = l.output_shape(shape);
    os << std::left << std::setw(10) << model.name(i) << std::setw(46) << l.describe()
       << std::setw(22) << shape_str(shape) << std::right << std::setw(14) << l.num_parameters()
       << "\n";
  }
  os << std::string(92, '-') << "\n";
  os << std::left << std::setw(78) << "total parameters" << std::right << std::setw(14)
     << model.num_parameters() << "\n";
  return os.str();
}

}  // namespace cudanet::layers
