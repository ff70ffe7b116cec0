// Image transforms: resize sizes and filtering, crop windows, mirror, normalisation, and the
// fused resize+crop path against the two-step reference.
#include "train/image_transform.h"

#include <cmath>
#include <gtest/gtest.h>
#include <set>

#include "core/error.h"
#include "train/synthetic_images.h"

namespace cudanet::train {
namespace {

Image constant_image(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<std::size_t>(w) * h * 3);
  for (std::size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

std::vector<float> run_fused(const Image& src, int w, int h, const CropWindow& win,
                             const ImageTransform& t) {
  std::vector<float> out(3 * static_cast<std::size_t>(t.crop) * t.crop, -999.f);
  resize_crop_normalize(src, w, h, win, t, out.data());
  return out;
}

std::vector<float> run_reference(const Image& src, int w, int h, const CropWindow& win,
                                 const ImageTransform& t) {
  std::vector<float> out(3 * static_cast<std::size_t>(t.crop) * t.crop, -999.f);
  crop_normalize(resize_image(src, w, h), win, t, out.data());
  return out;
}

TEST(ImageTransform, ResizedSizeScalesTheShorterSide) {
  int w = 0, h = 0;
  resized_size(500, 375, 256, &w, &h);
  EXPECT_EQ(w, 341);  // 500·256/375 = 341.3, truncated like torchvision
  EXPECT_EQ(h, 256);
  resized_size(375, 500, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 341);
  resized_size(100, 100, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 256);
  EXPECT_THROW(resized_size(0, 5, 256, &w, &h), ValueError);
}

TEST(ImageTransform, ResizeKeepsConstantsAndIsIdentityAtTheSameSize) {
  const Image c = constant_image(37, 23, 10, 200, 77);
  for (auto [w, h] : {std::pair{12, 9}, std::pair{80, 51}, std::pair{37, 23}}) {
    const Image r = resize_image(c, w, h);
    ASSERT_EQ(r.width, w);
    for (std::size_t i = 0; i < r.pixels.size(); i += 3) {
      ASSERT_EQ(r.pixels[i], 10);
      ASSERT_EQ(r.pixels[i + 1], 200);
      ASSERT_EQ(r.pixels[i + 2], 77);
    }
  }
  const Image img = render_synthetic_image(2, 5, 45, 31, 3, 0);
  EXPECT_EQ(resize_image(img, 45, 31).pixels, img.pixels);
}

TEST(ImageTransform, DownscaleAveragesLikeAnAreaFilter) {
  // A 1-pixel checkerboard shrunk 4x becomes flat grey (plain bilinear would alias it).
  Image img = constant_image(64, 64, 0, 0, 0);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      if ((x + y) % 2) {
        for (int c = 0; c < 3; ++c)
          img.pixels[(static_cast<std::size_t>(y) * 64 + x) * 3 + c] = 255;
      }
    }
  }
  const Image r = resize_image(img, 16, 16);
  for (int y = 1; y < 15; ++y) {
    for (int x = 1; x < 15; ++x) EXPECT_NEAR(r.pixels[(y * 16 + x) * 3], 127.5, 8) << x << "," << y;
  }
}

TEST(ImageTransform, UpscaleInterpolatesBetweenNeighbours) {
  Image img = constant_image(2, 1, 0, 0, 0);
  for (int c = 0; c < 3; ++c) img.pixels[3 + c] = 200;
  const Image r = resize_image(img, 8, 1);
  // Monotone from the dark to the bright pixel, the ends keeping the source values.
  EXPECT_EQ(r.pixels[0], 0);
  EXPECT_EQ(r.pixels[7 * 3], 200);
  for (int x = 1; x < 8; ++x) EXPECT_GE(r.pixels[x * 3], r.pixels[(x - 1) * 3]);
  EXPECT_GT(r.pixels[4 * 3], 50);
  EXPECT_LT(r.pixels[3 * 3], 150);
}

TEST(ImageTransform, FusedResizeCropEqualsResizeThenCrop) {
  ImageTransform t;
  t.crop = 24;
  const Image src = render_synthetic_image(3, 7, 61, 43, 11, 5);
  for (auto [w, h] : {std::pair{44, 31}, std::pair{91, 64}, std::pair{30, 24}}) {
    for (CropWindow win : {CropWindow{0, 0, false}, CropWindow{w - 24, h - 24, true},
                           CropWindow{(w - 24) / 2, (h - 24) / 3, true}}) {
      EXPECT_EQ(run_fused(src, w, h, win, t), run_reference(src, w, h, win, t))
          << w << "x" << h << " at " << win.x << "," << win.y << " mirror " << win.mirror;
    }
  }
}

TEST(ImageTransform, CropNormalizesMirrorsAndLaysOutChannelsFirst) {
  Image img = constant_image(4, 3, 0, 0, 0);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 4 + x) * 3];
      p[0] = static_cast<std::uint8_t>(10 * x + y);
      p[1] = 255;
      p[2] = 0;
    }
  }
  ImageTransform t;
  t.crop = 2;
  t.mean = {0.5f, 0.25f, 0.f};
  t.std = {0.5f, 0.25f, 2.f};
  std::vector<float> out(12);
  crop_normalize(img, {1, 1, false}, t, out.data());
  EXPECT_FLOAT_EQ(out[0], (11 / 255.f - 0.5f) / 0.5f);  // R at (y=1, x=1)
  EXPECT_FLOAT_EQ(out[1], (21 / 255.f - 0.5f) / 0.5f);  // R at (1, 2)
  EXPECT_FLOAT_EQ(out[2], (12 / 255.f - 0.5f) / 0.5f);  // R at (2, 1)
  EXPECT_FLOAT_EQ(out[4], (1.f - 0.25f) / 0.25f);       // G plane
  EXPECT_FLOAT_EQ(out[8], 0.f);                         // B plane
  std::vector<float> mirrored(12);
  crop_normalize(img, {1, 1, true}, t, mirrored.data());
  EXPECT_FLOAT_EQ(mirrored[0], out[1]);
  EXPECT_FLOAT_EQ(mirrored[1], out[0]);
  EXPECT_FLOAT_EQ(mirrored[2], out[3]);
  EXPECT_THROW(crop_normalize(img, {3, 0, false}, t, out.data()), ValueError);
}

TEST(ImageTransform, WindowsAreSeededRandomOrCentred) {
  ImageTransform t;
  t.crop = 227;
  std::set<std::pair<int, int>> seen;
  int mirrored = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const CropWindow w = choose_window(341, 256, t, 42, i);
    ASSERT_GE(w.x, 0);
    ASSERT_LE(w.x + 227, 341);
    ASSERT_GE(w.y, 0);
    ASSERT_LE(w.y + 227, 256);
    const CropWindow again = choose_window(341, 256, t, 42, i);
    ASSERT_EQ(w.x, again.x);
    ASSERT_EQ(w.y, again.y);
    ASSERT_EQ(w.mirror, again.mirror);
    seen.insert({w.x, w.y});
    mirrored += w.mirror;
  }
  EXPECT_GT(seen.size(), 500u);
  EXPECT_NEAR(mirrored, 500, 80);
  t.random = false;
  const CropWindow c = choose_window(341, 256, t, 42, 0);
  EXPECT_EQ(c.x, 57);
  EXPECT_EQ(c.y, 14);
  EXPECT_FALSE(c.mirror);
  EXPECT_THROW(choose_window(200, 256, t, 0, 0), IoError);
}

TEST(ImageTransform, ValidateRejectsBadSettings) {
  ImageTransform t;
  EXPECT_NO_THROW(validate(t));
  t.resize = 100;  // below the crop
  EXPECT_THROW(validate(t), ValueError);
  t = ImageTransform();
  t.std[1] = 0;
  EXPECT_THROW(validate(t), ValueError);
  t = ImageTransform();
  t.crop = 0;
  EXPECT_THROW(validate(t), ValueError);
}

TEST(ImageTransform, DecodeAugmentMatchesTheStepByStepPipeline) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  const std::string jpg = encode_jpeg(render_synthetic_image(4, 10, 500, 375, 9, 2));
  const auto* data = reinterpret_cast<const std::uint8_t*>(jpg.data());
  for (bool random : {false, true}) {
    ImageTransform t;
    t.random = random;
    std::vector<float> got(3 * 227 * 227, -999.f);
    decode_augment_jpeg(data, jpg.size(), t, 5, 17, got.data());
    // 375 · 6/8 = 281.25 >= 256: the decoder shrinks to 375×282 first (TJSCALED rounds up).
    const Image decoded = decode_jpeg(data, jpg.size(), 256);
    ASSERT_EQ(decoded.height, 282);
    const CropWindow win = choose_window(341, 256, t, 5, 17);
    EXPECT_EQ(got, run_reference(decoded, 341, 256, win, t));
  }
  std::vector<float> out(3 * 227 * 227);
  const std::string junk = "not a jpeg at all";
  EXPECT_THROW(decode_augment_jpeg(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size(),
                                   ImageTransform(), 0, 0, out.data()),
               IoError);
  ImageTransform no_resize;
  no_resize.resize = 0;  // a 100×80 image cannot give a 227 crop without resizing
  const std::string small = encode_jpeg(render_synthetic_image(0, 2, 100, 80, 1, 0));
  EXPECT_THROW(decode_augment_jpeg(reinterpret_cast<const std::uint8_t*>(small.data()),
                                   small.size(), no_resize, 0, 0, out.data()),
               IoError);
}

}  // namespace
}  // namespace cudanet::train
