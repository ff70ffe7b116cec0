// JPEG decoding and encoding with libjpeg-turbo's TurboJPEG API.
//
// An Image is 8-bit RGB, interleaved, row-major (height × width × 3). Grayscale and CMYK/YCCK
// JPEGs are converted to RGB while decoding, so every decoded image has three channels.
//
// Note: decode_jpeg may shrink a large JPEG in the DCT domain (TurboJPEG scaling factors M/8):
// it picks the smallest supported factor whose result still has a shorter side of at least
// `min_shorter_side`, which skips most of the inverse-DCT work for an image that is going to be
// resized down anyway (a 2000×1500 photo resized to 256 decodes at 1/4 scale). The later resize
// then shrinks by less than 2× (the factors step by 1/8), which a filtered resize handles well.
//
// Without libjpeg-turbo (CUDANET_WITH_TURBOJPEG == 0) every function here throws ValueError
// saying so; jpeg_available() tells in advance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cudanet::train {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height * width * 3 bytes, RGB
  bool empty() const { return width == 0 || height == 0; }
};

// True when this build can decode JPEGs.
bool jpeg_available();

// Size and colour space of a JPEG, from its header alone. Throws IoError for data that is not a
// readable JPEG header (the TurboJPEG message is included).
struct JpegInfo {
  int width = 0;
  int height = 0;
  int colorspace = 0;  // TJCS_*: 0 RGB, 1 YCbCr, 2 gray, 3 CMYK, 4 YCCK
};
JpegInfo read_jpeg_info(const std::uint8_t* data, std::size_t size);

// Decodes a JPEG to RGB. With min_shorter_side > 0 the image is scaled down in the DCT domain as
// far as possible while its shorter side stays >= min_shorter_side (see the note above); 0
// decodes at full size. Throws IoError for corrupt, truncated or non-JPEG data (warnings about
// recoverable damage are errors too: a training set should not silently contain grey blocks).
Image decode_jpeg(const std::uint8_t* data, std::size_t size, int min_shorter_side = 0);

// The largest JPEG dimension decode_jpeg accepts (both sides), to bound memory on hostile input.
inline constexpr int kMaxJpegSide = 16384;

// Encodes an RGB image (or a one-channel gray image when gray == true, pixels height*width) as a
// baseline JPEG with 4:2:0 subsampling (4:4:4 when quality >= 95). Throws ValueError for a bad
// image or quality outside [1, 100].
std::string encode_jpeg(const Image& image, int quality = 90);
std::string encode_jpeg_gray(const std::vector<std::uint8_t>& gray, int width, int height,
                             int quality = 90);
// Encodes as a 4-channel CMYK JPEG (Adobe-style, as Photoshop writes them): `cmyk` holds
// height*width*4 bytes. For tests of the CMYK-to-RGB path.
std::string encode_jpeg_cmyk(const std::vector<std::uint8_t>& cmyk, int width, int height,
                             int quality = 90);

}  // namespace cudanet::train
