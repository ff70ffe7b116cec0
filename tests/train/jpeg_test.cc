// JPEG decoding (TurboJPEG): round trips, grayscale and CMYK to RGB, DCT-domain scaling, and
// damaged or foreign data rejected with IoError. The JPEGs are made in the test.
#include "train/jpeg.h"

#include <cmath>
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/synthetic_images.h"

namespace cudanet::train {
namespace {

#define REQUIRE_JPEG() \
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo"

// A smooth RGB test image (gradients), which JPEG keeps well.
Image gradient(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(255 * x / (w - 1));
      p[1] = static_cast<std::uint8_t>(255 * y / (h - 1));
      p[2] = static_cast<std::uint8_t>(128 + 60 * std::sin(0.05 * (x + y)));
    }
  }
  return img;
}

double mean_abs_diff(const Image& a, const Image& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(a.pixels[i] - b.pixels[i]);
  return s / static_cast<double>(a.pixels.size());
}

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

TEST(Jpeg, RgbRoundTripKeepsSizeAndPixels) {
  REQUIRE_JPEG();
  const Image src = gradient(67, 45);  // odd sizes: partial MCUs
  const std::string jpg = encode_jpeg(src, 95);
  const JpegInfo info = read_jpeg_info(bytes(jpg), jpg.size());
  EXPECT_EQ(info.width, 67);
  EXPECT_EQ(info.height, 45);
  const Image out = decode_jpeg(bytes(jpg), jpg.size());
  ASSERT_EQ(out.width, 67);
  ASSERT_EQ(out.height, 45);
  ASSERT_EQ(out.pixels.size(), 67u * 45 * 3);
  EXPECT_LT(mean_abs_diff(src, out), 2.0);
  // A lower quality loses more: the comparison is not trivially satisfied.
  const std::string low = encode_jpeg(src, 5);
  EXPECT_GT(mean_abs_diff(src, decode_jpeg(bytes(low), low.size())), mean_abs_diff(src, out));
}

TEST(Jpeg, GrayscaleBecomesRgbWithEqualChannels) {
  REQUIRE_JPEG();
  std::vector<std::uint8_t> gray(40 * 30);
  for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<std::uint8_t>(i % 200 + 20);
  const std::string jpg = encode_jpeg_gray(gray, 40, 30, 100);
  EXPECT_EQ(read_jpeg_info(bytes(jpg), jpg.size()).colorspace, 2);  // TJCS_GRAY
  const Image out = decode_jpeg(bytes(jpg), jpg.size());
  ASSERT_EQ(out.pixels.size(), gray.size() * 3);
  double err = 0;
  for (std::size_t i = 0; i < gray.size(); ++i) {
    ASSERT_EQ(out.pixels[3 * i], out.pixels[3 * i + 1]);
    ASSERT_EQ(out.pixels[3 * i], out.pixels[3 * i + 2]);
    err += std::abs(out.pixels[3 * i] - gray[i]);
  }
  EXPECT_LT(err / static_cast<double>(gray.size()), 3.0);
}

TEST(Jpeg, AdobeCmykBecomesRgb) {
  REQUIRE_JPEG();
  // Adobe (inverted) CMYK: stored 255 means no ink. Left half pure red (no cyan ink, full magenta
  // and yellow), right half 50% grey (black ink only).
  const int w = 32, h = 16;
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &cmyk[(static_cast<std::size_t>(y) * w + x) * 4];
      if (x < w / 2) {
        p[0] = 255, p[1] = 0, p[2] = 0, p[3] = 255;
      } else {
        p[0] = 255, p[1] = 255, p[2] = 255, p[3] = 128;
      }
    }
  }
  const std::string jpg = encode_jpeg_cmyk(cmyk, w, h, 100);
  const int cs = read_jpeg_info(bytes(jpg), jpg.size()).colorspace;
  EXPECT_TRUE(cs == 3 || cs == 4) << cs;  // CMYK or YCCK
  const Image out = decode_jpeg(bytes(jpg), jpg.size());
  ASSERT_EQ(out.width, w);
  const std::uint8_t* red = &out.pixels[(8 * w + 4) * 3];
  EXPECT_NEAR(red[0], 255, 6);
  EXPECT_NEAR(red[1], 0, 6);
  EXPECT_NEAR(red[2], 0, 6);
  const std::uint8_t* grey = &out.pixels[(8 * w + 28) * 3];
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(grey[c], 128, 6);
}

TEST(Jpeg, DctScalingShrinksLargeImagesButKeepsTheShorterSideAboveTheTarget) {
  REQUIRE_JPEG();
  const Image big = render_synthetic_image(1, 4, 1024, 768, 7, 0);
  const std::string jpg = encode_jpeg(big);
  const Image full = decode_jpeg(bytes(jpg), jpg.size());
  EXPECT_EQ(full.width, 1024);
  EXPECT_EQ(full.height, 768);
  const Image scaled = decode_jpeg(bytes(jpg), jpg.size(), 256);
  // The smallest M/8 with 768·M/8 >= 256 is 3/8: 384×288.
  EXPECT_EQ(scaled.width, 384);
  EXPECT_EQ(scaled.height, 288);
  // A target above the image's size decodes at full size (no upscaling in the decoder).
  const Image small = render_synthetic_image(0, 4, 200, 150, 7, 1);
  const std::string sjpg = encode_jpeg(small);
  EXPECT_EQ(decode_jpeg(bytes(sjpg), sjpg.size(), 256).width, 200);
}

TEST(Jpeg, DamagedOrForeignDataThrowsIoError) {
  REQUIRE_JPEG();
  const std::string jpg = encode_jpeg(gradient(64, 64));
  const std::string truncated = jpg.substr(0, jpg.size() / 2);
  EXPECT_THROW(decode_jpeg(bytes(truncated), truncated.size()), IoError);
  const std::string png = "\x89PNG\r\n\x1a\n this is not a jpeg";
  EXPECT_THROW(decode_jpeg(bytes(png), png.size()), IoError);
  EXPECT_THROW(decode_jpeg(bytes(jpg), 0), IoError);
  EXPECT_THROW(decode_jpeg(bytes(jpg), 3), IoError);
  // Corrupt entropy-coded data in the middle (header intact).
  std::string corrupt = jpg;
  for (std::size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] = '\xff';
  EXPECT_THROW(decode_jpeg(bytes(corrupt), corrupt.size()), IoError);
}

TEST(Jpeg, EncoderRejectsBadArguments) {
  REQUIRE_JPEG();
  Image img = gradient(8, 8);
  EXPECT_THROW(encode_jpeg(img, 0), ValueError);
  EXPECT_THROW(encode_jpeg(img, 101), ValueError);
  img.pixels.pop_back();
  EXPECT_THROW(encode_jpeg(img), ValueError);
}

}  // namespace
}  // namespace cudanet::train
