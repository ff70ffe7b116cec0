// A small MNIST-format data set written to a directory, so that training tests need neither
// Fashion-MNIST nor much time: 28×28 uint8 images whose class (0-9) shows as a bright row band
// over deterministic noise, in the four files read_mnist_format expects (`--data mnist:DIR`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "train/idx.h"

namespace cudanet::testing {

inline void write_synthetic_mnist_subset(const std::string& dir, const std::string& prefix,
                                         std::int64_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> images(static_cast<std::size_t>(n) * 28 * 28);
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  std::uint32_t state = seed * 2654435761u + 1;
  const auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return state >> 24;
  };
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint32_t label = next() % 10;
    labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(label);
    for (std::int64_t p = 0; p < 28 * 28; ++p) {
      const std::int64_t row = p / 28;
      const bool band = row >= 2 + 2 * label && row < 4 + 2 * label;
      images[static_cast<std::size_t>(i * 28 * 28 + p)] =
          static_cast<std::uint8_t>(band ? 160 + next() % 96 : next() % 64);
    }
  }
  train::write_idx(dir + "/" + prefix + "-images-idx3-ubyte",
                   Tensor::from_vector(images, {n, 28, 28}));
  train::write_idx(dir + "/" + prefix + "-labels-idx1-ubyte", Tensor::from_vector(labels, {n}));
}

// Writes `train` training and `test` test images into `dir` (which must exist).
inline void write_synthetic_mnist(const std::string& dir, std::int64_t train = 600,
                                  std::int64_t test = 100) {
  write_synthetic_mnist_subset(dir, "train", train, 1);
  write_synthetic_mnist_subset(dir, "t10k", test, 2);
}

}  // namespace cudanet::testing
