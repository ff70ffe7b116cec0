// Image transforms of the JPEG pipeline: resize, crop, mirror and normalise, into NCHW float.
//
// The training transform of AlexNet: resize the shorter side to 256 (aspect kept), take a random
// crop×crop window (227, or 224 for alexnet-owt) and mirror it with probability 1/2; the
// evaluation transform takes the centre window without mirroring. Pixels become
// (v / 255 - mean[c]) / std[c], channels first (C×H×W), like torchvision's ToTensor + Normalize.
//
// Note: resize_crop_normalize computes only the pixels of the resized image that fall inside the
// crop window, in two separable passes, and writes them normalised and (when mirrored) reversed
// straight into the output: it equals resize_image followed by crop_normalize (a test checks
// this) without materialising the resized image. The resampling filter is a triangle (bilinear)
// kernel widened by the scale when shrinking, so a downscale averages every source pixel it covers
// (an antialiased, area-like bilinear, as Pillow's BILINEAR), and is plain bilinear interpolation
// when enlarging.
//
// The random choices of a sample are a pure function of (seed, index): the same on every run and
// every thread, whatever order the workers finish in.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "train/jpeg.h"

namespace cudanet::train {

struct ImageTransform {
  int resize = 256;    // the shorter side after resizing; 0 keeps the decoded size
  int crop = 227;      // side of the square window taken from the resized image
  bool random = true;  // training: random window and mirror; evaluation: centre, no mirror
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  // ImageNet statistics (torchvision)
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
};

// Throws ValueError for crop < 1, resize < 0, 0 < resize < crop, or a std that is not > 0.
void validate(const ImageTransform& t);

// The size of a width×height image whose shorter side is resized to `shorter` (the longer side
// is scaled by the same factor and truncated, as torchvision's Resize(int) does).
void resized_size(int width, int height, int shorter, int* out_width, int* out_height);

struct CropWindow {
  int x = 0;
  int y = 0;
  bool mirror = false;
};

// The window of sample `index` in a width×height (resized) image: random (seeded) or centred.
// Throws IoError when the image is smaller than the crop.
CropWindow choose_window(int width, int height, const ImageTransform& t, std::uint64_t seed,
                         std::uint64_t index);

// The whole image resampled to width×height (the reference for the fused path, and for tools).
Image resize_image(const Image& src, int width, int height);

// out[c][y][x] (3×crop×crop floats) from the window of an image that already has its final size.
void crop_normalize(const Image& image, const CropWindow& w, const ImageTransform& t, float* out);

// resize_image(src, width, height) then crop_normalize, fused (see the note above).
void resize_crop_normalize(const Image& src, int width, int height, const CropWindow& w,
                           const ImageTransform& t, float* out);

// One sample of the pipeline: decode the JPEG in `data` (shrunk in the DCT domain towards
// t.resize), resize, choose the window of (seed, index), crop, mirror and normalise into `out`
// (3×t.crop×t.crop floats). Throws IoError for data that is not a readable JPEG, or an image too
// small for the crop when t.resize == 0; never reads outside [data, data + size). This is the
// entry point the fuzz target calls.
void decode_augment_jpeg(const std::uint8_t* data, std::size_t size, const ImageTransform& t,
                         std::uint64_t seed, std::uint64_t index, float* out);

}  // namespace cudanet::train
