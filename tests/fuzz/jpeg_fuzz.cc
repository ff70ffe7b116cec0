// Fuzz target: JPEG decoding and augmentation exactly as the ImageFolder loader runs it
// (train::decode_augment_jpeg: TurboJPEG header and DCT-scaled decode, colour conversion, resize,
// crop, mirror, normalisation) on arbitrary bytes.
//
// Properties: bad data is rejected with IoError only (no crash, no other exception, no sanitizer
// report, no hang on hostile headers); an accepted image fills every output value with a finite
// number. The first byte picks training (random window and mirror) or evaluation (centre crop).
// Sizes are small so that each input decodes quickly.
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "tests/fuzz/fuzz_check.h"
#include "train/image_transform.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  cudanet::train::ImageTransform t;
  t.resize = 40;
  t.crop = 32;
  t.random = (data[0] & 1) != 0;
  std::vector<float> out(3 * 32 * 32, std::nanf(""));
  try {
    cudanet::train::decode_augment_jpeg(data + 1, size - 1, t, /*seed=*/data[0], /*index=*/7,
                                        out.data());
  } catch (const cudanet::IoError&) {
    return 0;
  }
  for (const float v : out) FUZZ_CHECK(std::isfinite(v));
  return 0;
}
