// The model zoo: the seed's fully connected network (mlp), LeNet-5, AlexNet (the seed's figure)
// and AlexNet "one weird trick" (torchvision's layout).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "layers/sequential.h"

namespace cudanet::layers {

struct ModelOptions {
  std::int64_t num_classes = 0;  // 0: the model's default (10, or 1000 for AlexNets)
  std::vector<std::int64_t> mlp_hidden = {300, 100};  // mlp only
  double dropout = 0.5;                               // AlexNets only
  bool initialize = true;  // false: parameters stay zero (summaries, loading checkpoints)
};

// "mlp", "lenet5", "alexnet", "alexnet-owt".
const std::vector<std::string>& model_names();
// The input of one sample, e.g. [1, 28, 28] for lenet5, [3, 227, 227] for alexnet.
Shape model_input_shape(const std::string& name);
// Builds `name` with parameters initialised from `generator`; ValueError for an unknown name.
std::unique_ptr<Sequential> make_model(const std::string& name, Generator& generator,
                                       const ModelOptions& options = {});

// A table of every layer: name, description, output shape for a batch of `batch` samples of
// `input` (one sample's shape), and parameter count; then the total.
std::string summary(Sequential& model, const Shape& input, std::int64_t batch = 1);

}  // namespace cudanet::layers
