#include "train/fashion_mnist.h"

#include <sys/stat.h>

#include "train/idx.h"

namespace cudanet::train {

namespace {

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

ChannelStats fashion_mnist_stats() {
  return {{0.2860405969887955}, {0.35302424451492237}};
}

std::string find_idx_file(const std::string& dir, const std::string& stem,
                          const std::string& hint) {
  const std::string gz = join(dir, stem + ".gz");
  if (is_regular_file(gz)) return gz;
  const std::string plain = join(dir, stem);
  if (is_regular_file(plain)) return plain;
  const std::string suffix = hint.empty() ? "" : "; " + hint;
  CUDANET_CHECK(is_directory(dir), IoError, "data directory ", dir, " does not exist (expected ",
                gz, " or ", plain, " there)", suffix);
  CUDANET_THROW(IoError, "missing data file: expected ", gz, " or ", plain, suffix);
}

RawImageSet read_mnist_format(const std::string& dir, MnistSubset subset, std::int64_t num_classes,
                              const std::string& dataset_name, const std::string& hint) {
  const std::string prefix = subset == MnistSubset::kTrain ? "train" : "t10k";
  const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte", hint);
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte", hint);
  Tensor images = read_idx(images_path);
  CUDANET_CHECK(images.dtype() == DType::kUInt8 && images.dim() == 3, IoError, images_path, ": ",
                dataset_name, " images must be uint8 N×H×W, got ", images.dtype(), " ",
                shape_str(images.shape()));
  const Tensor raw_labels = read_idx(labels_path);
  CUDANET_CHECK(raw_labels.dim() == 1 && !is_floating(raw_labels.dtype()), IoError, labels_path,
                ": ", dataset_name, " labels must be integers of shape [N], got ",
                raw_labels.dtype(), " ", shape_str(raw_labels.shape()));
  CUDANET_CHECK(raw_labels.size(0) == images.size(0), IoError, labels_path, ": ",
                raw_labels.size(0), " labels for the ", images.size(0), " images of ", images_path);
  RawImageSet out;
  out.images = images.view({images.size(0), 1, images.size(1), images.size(2)});
  try {
    out.labels = labels_to_int64(raw_labels, num_classes, labels_path);
  } catch (const ValueError& e) {
    throw IoError(e.message(), e.file(), e.line());  // a bad label is a malformed file
  }
  return out;
}

RawImageSet read_fashion_mnist(const std::string& dir, MnistSubset subset) {
  const std::string hint =
      std::string("Fashion-MNIST is expected in ") + (dir.empty() ? "." : dir) +
      " (the default is " + kFashionMnistDir +
      ", where Debian's package dataset-fashion-mnist installs it: apt-get install "
      "dataset-fashion-mnist)";
  return read_mnist_format(dir, subset, kFashionMnistClasses, "Fashion-MNIST", hint);
}

Dataset make_dataset(const RawImageSet& raw, const ChannelStats& stats, std::int64_t num_classes) {
  return Dataset(normalize_images(raw.images, stats), raw.labels, num_classes);
}

Dataset load_fashion_mnist(const std::string& dir, MnistSubset subset, const ChannelStats& stats) {
  return make_dataset(read_fashion_mnist(dir, subset), stats, kFashionMnistClasses);
}

}  // namespace cudanet::train
