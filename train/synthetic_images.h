// Synthetic labelled JPEG images: learnable stand-ins for ImageNet in tests, demos and benchmarks.
//
// The image of (class c, sample i) shows a shape in a colour that both depend on the class, at a
// random position and size, over a textured background, with colour jitter and pixel noise:
//   shape   = c mod 6 (disc, square, triangle, ring, striped block, cross)
//   colour  = hue c / num_classes around the colour wheel (saturated), jittered per sample
//   texture = (c / 6) mod 3 (smooth gradient, checkerboard, noise) of a dark random background
// so a convolutional network separates the classes quickly, yet no two samples are alike.
// Everything is drawn from Philox (seed, sample): the same seed writes the same files.
#pragma once

#include <cstdint>
#include <string>

#include "train/jpeg.h"

namespace cudanet::train {

// The image of sample `index` of class `label` (0 <= label < num_classes).
Image render_synthetic_image(std::int64_t label, std::int64_t num_classes, int width, int height,
                             std::uint64_t seed, std::uint64_t index);

struct SyntheticFolderOptions {
  std::int64_t classes = 10;
  std::int64_t per_class = 100;
  int width = 256;
  int height = 256;
  std::uint64_t seed = 0;
  int quality = 90;
};

// Writes out/class<NN>/img<NNNNN>.jpg for every class and sample (creating directories) and
// returns the number of files written. Throws ValueError for bad options, IoError when a file
// cannot be written.
std::int64_t write_synthetic_imagefolder(const std::string& out,
                                         const SyntheticFolderOptions& options);

}  // namespace cudanet::train
