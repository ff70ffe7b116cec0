// Dataset: labelled images held in memory, ready for a DataLoader.
//
// A Dataset is N images as one float32 CPU tensor N×C×H×W (already normalised) and their labels
// as an int64 tensor of N class indices in [0, num_classes). Like Tensor it is a cheap handle:
// copies and narrow() share the tensors; subset() copies.
//
// Normalisation follows torchvision's ToTensor + Normalize: pixels are scaled to [0, 1], then
// (x - mean[c]) / std[c] per channel, with statistics given or computed from the images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cudanet::train {

// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
struct ChannelStats {
  std::vector<double> mean;
  std::vector<double> std;
};

class Dataset {
 public:
  Dataset() = default;
  // Validates: images float32 CPU N×C×H×W (contiguous), labels int64 CPU [N], every label in
  // [0, num_classes). Throws ShapeError / ValueError naming the problem (the first bad label
  // with its index).
  Dataset(Tensor images, Tensor labels, std::int64_t num_classes);

  std::int64_t size() const { return images_.defined() ? images_.size(0) : 0; }
  bool empty() const { return size() == 0; }
  std::int64_t num_classes() const { return num_classes_; }
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  // C, H, W of one image.
  Shape sample_shape() const;

  // Samples start .. start+length-1 (shares memory).
  Dataset narrow(std::int64_t start, std::int64_t length) const;
  // The samples at `indices`, in that order (a copy). Throws ValueError for an index out of range.
  Dataset subset(const std::vector<std::int64_t>& indices) const;
  // How many samples each class has.
  std::vector<std::int64_t> class_counts() const;

 private:
  Tensor images_;
  Tensor labels_;
  std::int64_t num_classes_ = 0;
};

// Raw images: uint8 N×H×W (one channel) or N×C×H×W, or float32 already in [0, 1].
// The mean and standard deviation of each channel after scaling to [0, 1] (population std).
ChannelStats compute_channel_stats(const Tensor& raw_images);

// float32 N×C×H×W: x / 255 (uint8 input) then (x - mean[c]) / std[c]. Throws ValueError unless
// the stats have one entry per channel (or one for all channels), each std > 0, all finite.
Tensor normalize_images(const Tensor& raw_images, const ChannelStats& stats);

// Labels of any integer dtype, shape [N], as int64; throws ValueError naming the first label
// outside [0, num_classes) and its index. `what` names the source in messages.
Tensor labels_to_int64(const Tensor& raw_labels, std::int64_t num_classes,
                       const std::string& what = "labels");

// A random permutation of 0 .. n-1 determined by `seed` (Fisher-Yates over Philox draws: the same
// on every machine and every run).
std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t seed);

enum class SplitMode {
  kLast,    // the last `validation_size` samples validate (no shuffling)
  kRandom,  // a seeded random choice of `validation_size` samples validates
};

struct TrainValidationSplit {
  Dataset train;
  Dataset validation;
};

// Holds out `validation_size` samples (0 <= validation_size <= size) for validation. kRandom
// keeps both parts in their original relative order; the chosen samples depend only on the seed.
TrainValidationSplit split_train_validation(const Dataset& dataset, std::int64_t validation_size,
                                            SplitMode mode = SplitMode::kRandom,
                                            std::uint64_t seed = 0);

}  // namespace cudanet::train
