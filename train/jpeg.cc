#include "train/jpeg.h"

#include <algorithm>
#include <limits>

#include "core/config.h"
#include "core/error.h"

#if CUDANET_WITH_TURBOJPEG
#include <turbojpeg.h>
#endif

namespace cudanet::train {

#if CUDANET_WITH_TURBOJPEG

namespace {

// One decompressor and one compressor per thread: TurboJPEG handles are not thread-safe, and
// creating one per image would cost more than decoding a small JPEG.
struct Handles {
  tjhandle decompress = nullptr;
  tjhandle compress = nullptr;
  ~Handles() {
    if (decompress) tjDestroy(decompress);
    if (compress) tjDestroy(compress);
  }
};

Handles& handles() {
  thread_local Handles h;
  return h;
}

tjhandle decompressor() {
  Handles& h = handles();
  if (!h.decompress) h.decompress = tjInitDecompress();
  CUDANET_CHECK(h.decompress != nullptr, Error,
                "TurboJPEG: cannot create a decompressor: ", tjGetErrorStr2(nullptr));
  return h.decompress;
}

tjhandle compressor() {
  Handles& h = handles();
  if (!h.compress) h.compress = tjInitCompress();
  CUDANET_CHECK(h.compress != nullptr, Error,
                "TurboJPEG: cannot create a compressor: ", tjGetErrorStr2(nullptr));
  return h.compress;
}

unsigned long checked_size(std::size_t size) {
  CUDANET_CHECK(size > 0 && size <= std::numeric_limits<unsigned long>::max(), IoError,
                "JPEG: bad buffer size ", size);
  return static_cast<unsigned long>(size);
}

// The smallest scaling factor (M/8 with M <= 8) that keeps the shorter side >= min_side.
tjscalingfactor pick_scale(int width, int height, int min_side) {
  tjscalingfactor best{1, 1};
  if (min_side <= 0) return best;
  int n = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&n);
  if (factors == nullptr) return best;
  const int shorter = std::min(width, height);
  for (int i = 0; i < n; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;  // no upscaling in the decoder
    if (TJSCALED(shorter, f) < min_side) continue;
    if (TJSCALED(shorter, f) < TJSCALED(shorter, best)) best = f;
  }
  return best;
}

std::string compress(const unsigned char* src, int width, int height, int pixel_format,
                     int subsampling, int quality) {
  CUDANET_CHECK(width > 0 && height > 0, ValueError, "encode_jpeg: bad size ", width, "x", height);
  CUDANET_CHECK(quality >= 1 && quality <= 100, ValueError, "encode_jpeg: quality ", quality,
                " is outside [1, 100]");
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const int rc = tjCompress2(compressor(), src, width, 0, height, pixel_format, &out, &out_size,
                             subsampling, quality, 0);
  if (rc != 0) {
    const std::string why = tjGetErrorStr2(compressor());
    tjFree(out);
    CUDANET_THROW(ValueError, "encode_jpeg: ", why);
  }
  std::string bytes(reinterpret_cast<const char*>(out), out_size);
  tjFree(out);
  return bytes;
}

}  // namespace

bool jpeg_available() {
  return true;
}

JpegInfo read_jpeg_info(const std::uint8_t* data, std::size_t size) {
  JpegInfo info;
  int subsampling = 0;
  tjhandle h = decompressor();
  if (tjDecompressHeader3(h, data, checked_size(size), &info.width, &info.height, &subsampling,
                          &info.colorspace) != 0) {
    CUDANET_THROW(IoError, "not a readable JPEG: ", tjGetErrorStr2(h));
  }
  CUDANET_CHECK(info.width > 0 && info.height > 0 && info.width <= kMaxJpegSide &&
                    info.height <= kMaxJpegSide,
                IoError, "JPEG of ", info.width, "x", info.height, " pixels is outside 1..",
                kMaxJpegSide, " per side");
  return info;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, int min_shorter_side) {
  const JpegInfo info = read_jpeg_info(data, size);
  const tjscalingfactor f = pick_scale(info.width, info.height, min_shorter_side);
  Image img;
  img.width = TJSCALED(info.width, f);
  img.height = TJSCALED(info.height, f);
  const auto npix = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
  tjhandle h = decompressor();
  // Warnings (truncation, corrupt data) are errors, and a progressive JPEG with an unreasonable
  // number of scans is refused (a crafted file with thousands of them takes seconds to decode).
  const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  const bool cmyk = info.colorspace == TJCS_CMYK || info.colorspace == TJCS_YCCK;
  if (!cmyk) {
    img.pixels.resize(npix * 3);
    if (tjDecompress2(h, data, checked_size(size), img.pixels.data(), img.width, 0, img.height,
                      TJPF_RGB, flags) != 0) {
      CUDANET_THROW(IoError, "corrupt JPEG: ", tjGetErrorStr2(h));
    }
    return img;
  }
  // CMYK/YCCK: the decoder hands back the stored CMYK values. They follow the Adobe convention
  // (inverted: 255 = no ink), as Photoshop writes them and Pillow reads them, so R = C·K / 255.
  std::vector<std::uint8_t> cmyk_pixels(npix * 4);
  if (tjDecompress2(h, data, checked_size(size), cmyk_pixels.data(), img.width, 0, img.height,
                    TJPF_CMYK, flags) != 0) {
    CUDANET_THROW(IoError, "corrupt CMYK JPEG: ", tjGetErrorStr2(h));
  }
  img.pixels.resize(npix * 3);
  for (std::size_t i = 0; i < npix; ++i) {
    const unsigned k = cmyk_pixels[4 * i + 3];
    for (int c = 0; c < 3; ++c) {
      img.pixels[3 * i + c] = static_cast<std::uint8_t>((cmyk_pixels[4 * i + c] * k + 127) / 255);
    }
  }
  return img;
}

std::string encode_jpeg(const Image& image, int quality) {
  CUDANET_CHECK(image.pixels.size() == static_cast<std::size_t>(image.width) *
                                           static_cast<std::size_t>(image.height) * 3,
                ValueError, "encode_jpeg: ", image.pixels.size(), " bytes for a ", image.width, "x",
                image.height, " RGB image");
  return compress(image.pixels.data(), image.width, image.height, TJPF_RGB,
                  quality >= 95 ? TJSAMP_444 : TJSAMP_420, quality);
}

std::string encode_jpeg_gray(const std::vector<std::uint8_t>& gray, int width, int height,
                             int quality) {
  CUDANET_CHECK(gray.size() == static_cast<std::size_t>(width) * static_cast<std::size_t>(height),
                ValueError, "encode_jpeg_gray: ", gray.size(), " bytes for ", width, "x", height);
  return compress(gray.data(), width, height, TJPF_GRAY, TJSAMP_GRAY, quality);
}

std::string encode_jpeg_cmyk(const std::vector<std::uint8_t>& cmyk, int width, int height,
                             int quality) {
  CUDANET_CHECK(
      cmyk.size() == static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 4,
      ValueError, "encode_jpeg_cmyk: ", cmyk.size(), " bytes for ", width, "x", height);
  return compress(cmyk.data(), width, height, TJPF_CMYK, TJSAMP_444, quality);
}

#else  // no libjpeg-turbo

namespace {
[[noreturn]] void unavailable() {
  CUDANET_THROW(ValueError,
                "JPEG support is not built in: cudanet was configured without libjpeg-turbo's "
                "TurboJPEG (install libturbojpeg0-dev and reconfigure)");
}
}  // namespace

bool jpeg_available() {
  return false;
}
JpegInfo read_jpeg_info(const std::uint8_t*, std::size_t) {
  unavailable();
}
Image decode_jpeg(const std::uint8_t*, std::size_t, int) {
  unavailable();
}
std::string encode_jpeg(const Image&, int) {
  unavailable();
}
std::string encode_jpeg_gray(const std::vector<std::uint8_t>&, int, int, int) {
  unavailable();
}
std::string encode_jpeg_cmyk(const std::vector<std::uint8_t>&, int, int, int) {
  unavailable();
}

#endif

}  // namespace cudanet::train
