// MNIST-format image sets (MNIST, Fashion-MNIST) read from a directory of IDX files.
//
// The directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte, each gzip-compressed (".gz") or not. Debian's package
// `dataset-fashion-mnist` installs Fashion-MNIST under /usr/share/datasets/fashion-mnist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "train/dataset.h"

namespace cudanet::train {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr std::int64_t kFashionMnistClasses = 10;

// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
// "Ankle boot".
const std::vector<std::string>& fashion_mnist_class_names();

// The mean and std of the 60,000 Fashion-MNIST training images scaled to [0, 1].
ChannelStats fashion_mnist_stats();

enum class MnistSubset { kTrain, kTest };

// Images as read: uint8 N×1×H×W, and labels int64 [N] (validated against the class count).
struct RawImageSet {
  Tensor images;
  Tensor labels;
};

// `<dir>/<stem>.gz` if it exists, else `<dir>/<stem>`; throws IoError when neither does, naming
// both paths and `hint` (what provides the file).
std::string find_idx_file(const std::string& dir, const std::string& stem,
                          const std::string& hint = "");

// Reads the images and labels of `subset` from an MNIST-format directory; throws IoError for
// missing or malformed files and for image and label counts that disagree. `dataset_name` and
// `hint` make the messages useful ("Fashion-MNIST", "Debian's package ... provides it").
RawImageSet read_mnist_format(const std::string& dir, MnistSubset subset, std::int64_t num_classes,
                              const std::string& dataset_name = "MNIST",
                              const std::string& hint = "");

// read_mnist_format for Fashion-MNIST, whose missing-data message says where the set is expected
// and that Debian's package `dataset-fashion-mnist` provides it.
RawImageSet read_fashion_mnist(const std::string& dir = kFashionMnistDir,
                               MnistSubset subset = MnistSubset::kTrain);

// Normalises raw images with `stats` into a Dataset.
Dataset make_dataset(const RawImageSet& raw, const ChannelStats& stats, std::int64_t num_classes);

// read_fashion_mnist + make_dataset.
Dataset load_fashion_mnist(const std::string& dir, MnistSubset subset, const ChannelStats& stats);

}  // namespace cudanet::train
