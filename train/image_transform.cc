#include "train/image_transform.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/philox.h"

namespace cudanet::train {

namespace {

// The taps of one output coordinate: source positions first .. first+count-1 with their weights
// (weights of all coordinates in one array, `stride` per coordinate).
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;
  int stride = 0;
};

// Triangle-filter taps for output coordinates begin .. begin+n-1 of a resize in_size -> out_size.
void make_taps(int in_size, int out_size, int begin, int n, Taps& taps) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double width = std::max(scale, 1.0);  // the filter widens when shrinking
  taps.stride = static_cast<int>(std::ceil(width)) * 2 + 1;
  taps.first.resize(static_cast<std::size_t>(n));
  taps.count.resize(static_cast<std::size_t>(n));
  taps.weights.assign(static_cast<std::size_t>(n) * static_cast<std::size_t>(taps.stride), 0.f);
  for (int i = 0; i < n; ++i) {
    const double center = (begin + i + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(std::floor(center - width)));
    const int hi = std::min(in_size, static_cast<int>(std::ceil(center + width)));
    float* w = &taps.weights[static_cast<std::size_t>(i) * static_cast<std::size_t>(taps.stride)];
    double sum = 0;
    int count = 0;
    for (int s = lo; s < hi && count < taps.stride; ++s) {
      const double d = std::abs((s + 0.5 - center) / width);
      const double v = d < 1 ? 1 - d : 0;
      w[count++] = static_cast<float>(v);
      sum += v;
    }
    if (sum <= 0) {  // cannot happen for sizes >= 1, but never divide by zero
      w[0] = 1;
      sum = 1;
      count = 1;
    }
    for (int k = 0; k < count; ++k) w[k] = static_cast<float>(w[k] / sum);
    taps.first[static_cast<std::size_t>(i)] = lo;
    taps.count[static_cast<std::size_t>(i)] = count;
  }
}

struct Scratch {
  Taps rows, cols;
  std::vector<float> tmp;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Resamples the window [x0, x0+w) × [y0, y0+h) of the src resized to width×height, calling
// emit(y, x, rgb) for each window pixel (y, x relative to the window).
template <typename Emit>
void resample_window(const Image& src, int width, int height, int x0, int y0, int w, int h,
                     Emit&& emit) {
  Scratch& s = scratch();
  make_taps(src.width, width, x0, w, s.cols);
  make_taps(src.height, height, y0, h, s.rows);
  const int row_lo = s.rows.first.front();
  int row_hi = row_lo;
  for (int i = 0; i < h; ++i) {
    row_hi = std::max(row_hi, s.rows.first[static_cast<std::size_t>(i)] +
                                  s.rows.count[static_cast<std::size_t>(i)]);
  }
  // Pass 1: every source row the window needs, filtered horizontally to w pixels.
  const auto tmp_row = static_cast<std::size_t>(w) * 3;
  s.tmp.resize(static_cast<std::size_t>(row_hi - row_lo) * tmp_row);
  const std::size_t src_row = static_cast<std::size_t>(src.width) * 3;
  for (int r = row_lo; r < row_hi; ++r) {
    const std::uint8_t* in = src.pixels.data() + static_cast<std::size_t>(r) * src_row;
    float* t = s.tmp.data() + static_cast<std::size_t>(r - row_lo) * tmp_row;
    for (int x = 0; x < w; ++x) {
      const float* wt =
          &s.cols.weights[static_cast<std::size_t>(x) * static_cast<std::size_t>(s.cols.stride)];
      const std::uint8_t* p =
          in + static_cast<std::size_t>(s.cols.first[static_cast<std::size_t>(x)]) * 3;
      float r0 = 0, g0 = 0, b0 = 0;
      for (int k = 0, n = s.cols.count[static_cast<std::size_t>(x)]; k < n; ++k, p += 3) {
        r0 += wt[k] * p[0];
        g0 += wt[k] * p[1];
        b0 += wt[k] * p[2];
      }
      t[3 * x] = r0;
      t[3 * x + 1] = g0;
      t[3 * x + 2] = b0;
    }
  }
  // Pass 2: vertical filter of the buffered rows.
  for (int y = 0; y < h; ++y) {
    const float* wt =
        &s.rows.weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(s.rows.stride)];
    const int first = s.rows.first[static_cast<std::size_t>(y)] - row_lo;
    const int n = s.rows.count[static_cast<std::size_t>(y)];
    for (int x = 0; x < w; ++x) {
      float rgb[3] = {0, 0, 0};
      const float* t = s.tmp.data() + static_cast<std::size_t>(first) * tmp_row + 3 * x;
      for (int k = 0; k < n; ++k, t += tmp_row) {
        rgb[0] += wt[k] * t[0];
        rgb[1] += wt[k] * t[1];
        rgb[2] += wt[k] * t[2];
      }
      emit(y, x, rgb);
    }
  }
}

// A resampled value (a convex combination of bytes, so >= 0) rounded to a byte.
inline float round_byte(float v) {
  return static_cast<float>(std::min(static_cast<int>(v + 0.5f), 255));
}

void check_image(const Image& img, const char* what) {
  CUDANET_CHECK(img.width > 0 && img.height > 0 &&
                    img.pixels.size() == static_cast<std::size_t>(img.width) *
                                             static_cast<std::size_t>(img.height) * 3,
                ValueError, what, ": bad image ", img.width, "x", img.height, " with ",
                img.pixels.size(), " bytes");
}

void check_window(int width, int height, const CropWindow& w, int crop) {
  CUDANET_CHECK(w.x >= 0 && w.y >= 0 && w.x + crop <= width && w.y + crop <= height, ValueError,
                "crop window (", w.x, ", ", w.y, ") of ", crop, " is outside the ", width, "x",
                height, " image");
}

}  // namespace

void validate(const ImageTransform& t) {
  CUDANET_CHECK(t.crop >= 1, ValueError, "image transform: crop must be >= 1, got ", t.crop);
  CUDANET_CHECK(t.resize == 0 || t.resize >= t.crop, ValueError, "image transform: resize ",
                t.resize, " is smaller than the crop ", t.crop);
  CUDANET_CHECK(t.resize >= 0 && t.resize <= kMaxJpegSide, ValueError,
                "image transform: bad resize ", t.resize);
  for (int c = 0; c < 3; ++c) {
    CUDANET_CHECK(std::isfinite(t.std[c]) && t.std[c] > 0 && std::isfinite(t.mean[c]), ValueError,
                  "image transform: channel ", c, " needs a finite mean and a std > 0, got ",
                  t.mean[c], " and ", t.std[c]);
  }
}

void resized_size(int width, int height, int shorter, int* out_width, int* out_height) {
  CUDANET_CHECK(width > 0 && height > 0 && shorter > 0, ValueError, "resized_size: bad sizes ",
                width, "x", height, " -> ", shorter);
  if (width <= height) {
    *out_width = shorter;
    *out_height =
        std::max(1, static_cast<int>(static_cast<std::int64_t>(height) * shorter / width));
  } else {
    *out_height = shorter;
    *out_width = std::max(1, static_cast<int>(static_cast<std::int64_t>(width) * shorter / height));
  }
}

CropWindow choose_window(int width, int height, const ImageTransform& t, std::uint64_t seed,
                         std::uint64_t index) {
  CUDANET_CHECK(width >= t.crop && height >= t.crop, IoError, "image of ", width, "x", height,
                " is smaller than the ", t.crop, "x", t.crop, " crop");
  CropWindow w;
  if (!t.random) {
    w.x = (width - t.crop) / 2;
    w.y = (height - t.crop) / 2;
    return w;
  }
  // Three words of the Philox block (seed, counter = index): x, y and the mirror bit.
  const auto span_x = static_cast<std::uint32_t>(width - t.crop + 1);
  const auto span_y = static_cast<std::uint32_t>(height - t.crop + 1);
  w.x = static_cast<int>(uniform_u32(seed, index, 0) % span_x);
  w.y = static_cast<int>(uniform_u32(seed, index, 1) % span_y);
  w.mirror = (uniform_u32(seed, index, 2) & 1u) != 0;
  return w;
}

Image resize_image(const Image& src, int width, int height) {
  check_image(src, "resize_image");
  CUDANET_CHECK(width > 0 && height > 0, ValueError, "resize_image: bad size ", width, "x", height);
  Image out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  resample_window(src, width, height, 0, 0, width, height, [&](int y, int x, const float* rgb) {
    std::uint8_t* p = &out.pixels[(static_cast<std::size_t>(y) * width + x) * 3];
    for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(round_byte(rgb[c]));
  });
  return out;
}

void crop_normalize(const Image& image, const CropWindow& w, const ImageTransform& t, float* out) {
  check_image(image, "crop_normalize");
  check_window(image.width, image.height, w, t.crop);
  const std::size_t plane = static_cast<std::size_t>(t.crop) * static_cast<std::size_t>(t.crop);
  for (int c = 0; c < 3; ++c) {
    const float a = 1.f / (255.f * t.std[c]), b = -t.mean[c] / t.std[c];
    for (int y = 0; y < t.crop; ++y) {
      const std::uint8_t* in =
          &image.pixels[(static_cast<std::size_t>(w.y + y) * image.width + w.x) * 3 + c];
      float* o = out + c * plane + static_cast<std::size_t>(y) * t.crop;
      for (int x = 0; x < t.crop; ++x) o[w.mirror ? t.crop - 1 - x : x] = in[3 * x] * a + b;
    }
  }
}

void resize_crop_normalize(const Image& src, int width, int height, const CropWindow& w,
                           const ImageTransform& t, float* out) {
  check_image(src, "resize_crop_normalize");
  check_window(width, height, w, t.crop);
  if (width == src.width && height == src.height) {  // nothing to resample
    crop_normalize(src, w, t, out);
    return;
  }
  const std::size_t plane = static_cast<std::size_t>(t.crop) * static_cast<std::size_t>(t.crop);
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = 1.f / (255.f * t.std[c]);
    b[c] = -t.mean[c] / t.std[c];
  }
  const int crop = t.crop;
  resample_window(src, width, height, w.x, w.y, crop, crop, [&](int y, int x, const float* rgb) {
    // Rounding to 8 bits first keeps the fused path equal to resize_image + crop_normalize.
    const std::size_t at = static_cast<std::size_t>(y) * crop + (w.mirror ? crop - 1 - x : x);
    for (int c = 0; c < 3; ++c) {
      out[c * plane + at] = round_byte(rgb[c]) * a[c] + b[c];
    }
  });
}

void decode_augment_jpeg(const std::uint8_t* data, std::size_t size, const ImageTransform& t,
                         std::uint64_t seed, std::uint64_t index, float* out) {
  validate(t);
  // The target size comes from the JPEG's own size, not the DCT-scaled one (whose rounding may
  // shift the aspect ratio by a pixel), so it matches resizing the full image.
  const JpegInfo info = read_jpeg_info(data, size);
  const Image img = decode_jpeg(data, size, t.resize);
  int width = img.width, height = img.height;
  if (t.resize > 0) resized_size(info.width, info.height, t.resize, &width, &height);
  const CropWindow w = choose_window(width, height, t, seed, index);
  resize_crop_normalize(img, width, height, w, t, out);
}

}  // namespace cudanet::train
