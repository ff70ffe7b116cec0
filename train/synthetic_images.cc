#include "train/synthetic_images.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/philox.h"

namespace cudanet::train {

namespace {

// Successive uniform draws of one sample's Philox stream.
class Draws {
 public:
  Draws(std::uint64_t seed, std::uint64_t sample) : seed_(seed), sample_(sample) {}
  float uniform() { return uniform_float(seed_, sample_, next_++); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

 private:
  std::uint64_t seed_, sample_;
  std::uint64_t next_ = 0;
};

struct Rgb {
  float r, g, b;
};

Rgb hue_to_rgb(float hue) {  // hue in [0, 1), full saturation and value
  const float h = hue * 6.f;
  const int sector = static_cast<int>(h) % 6;
  const float f = h - std::floor(h);
  switch (sector) {
    case 0:
      return {1, f, 0};
    case 1:
      return {1 - f, 1, 0};
    case 2:
      return {0, 1, f};
    case 3:
      return {0, 1 - f, 1};
    case 4:
      return {f, 0, 1};
    default:
      return {1, 0, 1 - f};
  }
}

// Whether (x, y), relative to the shape's centre and scaled by its radius to [-1, 1], is inside
// shape `kind`.
bool inside(int kind, float x, float y) {
  switch (kind) {
    case 0:
      return x * x + y * y <= 1;
    case 1:
      return std::abs(x) <= 0.8f && std::abs(y) <= 0.8f;
    case 2:
      return y <= 0.8f && y >= -0.9f && std::abs(x) <= (y + 0.9f) * 0.55f;
    case 3: {
      const float r2 = x * x + y * y;
      return r2 <= 1 && r2 >= 0.4f;
    }
    case 4:
      return std::abs(x) <= 0.9f && std::abs(y) <= 0.7f &&
             static_cast<int>(std::floor((y + 1) * 4)) % 2 == 0;
    default:
      return (std::abs(x) <= 0.25f && std::abs(y) <= 0.95f) ||
             (std::abs(y) <= 0.25f && std::abs(x) <= 0.95f);
  }
}

std::uint8_t to_byte(float v) {
  return static_cast<std::uint8_t>(
      std::min(255, static_cast<int>(std::clamp(v, 0.f, 255.f) + 0.5f)));
}

}  // namespace

Image render_synthetic_image(std::int64_t label, std::int64_t num_classes, int width, int height,
                             std::uint64_t seed, std::uint64_t index) {
  CUDANET_CHECK(num_classes >= 1 && label >= 0 && label < num_classes, ValueError,
                "synthetic image: label ", label, " is outside [0, ", num_classes, ")");
  CUDANET_CHECK(width >= 8 && height >= 8 && width <= kMaxJpegSide && height <= kMaxJpegSide,
                ValueError, "synthetic image: size ", width, "x", height, " is outside 8..",
                kMaxJpegSide);
  // The sample's stream: one Philox counter range per (label, index).
  Draws d(seed, (static_cast<std::uint64_t>(label) << 40) ^ index);
  const int kind = static_cast<int>(label % 6);
  const int texture = static_cast<int>((label / 6) % 3);
  const Rgb base = hue_to_rgb(static_cast<float>(label) / static_cast<float>(num_classes));
  const float jitter = 0.15f;
  const Rgb fg{255 * std::clamp(base.r + d.uniform(-jitter, jitter), 0.f, 1.f),
               255 * std::clamp(base.g + d.uniform(-jitter, jitter), 0.f, 1.f),
               255 * std::clamp(base.b + d.uniform(-jitter, jitter), 0.f, 1.f)};
  const Rgb bg{d.uniform(10, 90), d.uniform(10, 90), d.uniform(10, 90)};
  const float shorter = static_cast<float>(std::min(width, height));
  const float radius = shorter * d.uniform(0.2f, 0.38f);
  const float cx = d.uniform(radius, static_cast<float>(width) - radius);
  const float cy = d.uniform(radius, static_cast<float>(height) - radius);
  const float angle = d.uniform(-0.3f, 0.3f);  // a small rotation
  const float ca = std::cos(angle), sa = std::sin(angle);
  const float cell = d.uniform(6, 16);
  const float noise = 18;
  const std::uint64_t noise_seed = seed ^ 0x9e3779b97f4a7c15ull;
  const std::uint64_t noise_offset = (static_cast<std::uint64_t>(label) << 40) ^ index;

  Image img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const std::uint64_t pixel = static_cast<std::uint64_t>(y) * width + x;
      const std::uint32_t word = uniform_u32(noise_seed, noise_offset, pixel);
      float shade;
      switch (texture) {
        case 0:
          shade = 0.6f + 0.8f * static_cast<float>(x + y) / static_cast<float>(width + height);
          break;
        case 1:
          shade = ((static_cast<int>(x / cell) + static_cast<int>(y / cell)) % 2) ? 1.4f : 0.6f;
          break;
        default:
          shade = 0.5f + static_cast<float>(word >> 24) / 255.f;
          break;
      }
      const float u = ((x - cx) * ca + (y - cy) * sa) / radius;
      const float v = (-(x - cx) * sa + (y - cy) * ca) / radius;
      const bool in = inside(kind, u, v);
      const float n = noise * (static_cast<float>((word >> 8) & 0xffu) / 127.5f - 1.f);
      std::uint8_t* p = &img.pixels[pixel * 3];
      p[0] = to_byte((in ? fg.r : bg.r * shade) + n);
      p[1] = to_byte((in ? fg.g : bg.g * shade) + n);
      p[2] = to_byte((in ? fg.b : bg.b * shade) + n);
    }
  }
  return img;
}

std::int64_t write_synthetic_imagefolder(const std::string& out, const SyntheticFolderOptions& o) {
  CUDANET_CHECK(o.classes >= 1 && o.classes <= 100000, ValueError,
                "synthetic image folder: classes must be in 1..100000, got ", o.classes);
  CUDANET_CHECK(o.per_class >= 1, ValueError,
                "synthetic image folder: per-class must be >= 1, got ", o.per_class);
  namespace fs = std::filesystem;
  std::int64_t written = 0;
  for (std::int64_t c = 0; c < o.classes; ++c) {
    char name[32];
    std::snprintf(name, sizeof name, "class%02lld", static_cast<long long>(c));
    const fs::path dir = fs::path(out) / name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    CUDANET_CHECK(!ec, IoError, "cannot create ", dir.string(), ": ", ec.message());
    for (std::int64_t i = 0; i < o.per_class; ++i) {
      const Image img = render_synthetic_image(c, o.classes, o.width, o.height, o.seed,
                                               static_cast<std::uint64_t>(i));
      const std::string bytes = encode_jpeg(img, o.quality);
      char file[32];
      std::snprintf(file, sizeof file, "img%05lld.jpg", static_cast<long long>(i));
      const fs::path path = dir / file;
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      CUDANET_CHECK(f.good(), IoError, "cannot write ", path.string());
      ++written;
    }
  }
  return written;
}

}  // namespace cudanet::train
