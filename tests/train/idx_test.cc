// IDX files: round trips (plain and gzip), the exact layout, and every kind of malformed file.
#include "train/idx.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/philox.h"
#include "tensor_testing.h"
#include "train/gzip.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

using cudanet::testing::all_equal;
using cudanet::testing::TempDir;

std::string header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::string h{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((d >> s) & 0xff));
  }
  return h;
}

// Expects parse/read to throw IoError whose message contains `path` and `needle`.
#define EXPECT_IDX_ERROR(path, needle)                                       \
  do {                                                                       \
    try {                                                                    \
      read_idx(path);                                                        \
      ADD_FAILURE() << "no IoError for " << (path);                          \
    } catch (const IoError& e) {                                             \
      EXPECT_NE(e.message().find(path), std::string::npos) << e.message();   \
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message(); \
    }                                                                        \
  } while (0)

#define REQUIRE_ZLIB() \
  if (!gzip_supported()) GTEST_SKIP() << "this cudanet was built without zlib"

Tensor sample_u8() {
  std::vector<std::uint8_t> v(2 * 3 * 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 11 % 256);
  return Tensor::from_vector(v, {2, 3, 4});
}

TEST(Idx, WritesTheExactLayout) {
  const Tensor t = Tensor::from_vector<std::int32_t>({1, -2, 0x01020304}, {3});
  const std::string bytes = idx_bytes(t);
  const std::string expected = header(0x0C, {3}) + std::string("\x00\x00\x00\x01", 4) +
                               std::string("\xff\xff\xff\xfe", 4) +
                               std::string("\x01\x02\x03\x04", 4);
  EXPECT_EQ(bytes, expected);
}

TEST(Idx, RoundTripsEveryWritableDtypePlainAndGzip) {
  TempDir dir;
  const std::vector<Tensor> tensors = {
      sample_u8(),
      Tensor::from_vector<std::int32_t>({-7, 0, 7, 2147483647, -2147483647 - 1, 42}, {2, 3}),
      Tensor::from_vector<float>({-1.5f, 0.0f, 3.25f, 1e-30f}, {4, 1}),
      Tensor::from_vector<double>({-1.0 / 3.0, 1e300, 0.0, 2.0}, {1, 2, 2}),
  };
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string plain = dir.file("t" + std::to_string(i) + ".idx");
    write_idx(plain, tensors[i]);
    EXPECT_TRUE(all_equal(read_idx(plain), tensors[i])) << plain;
    EXPECT_EQ(read_idx(plain).dtype(), tensors[i].dtype());
    if (!gzip_supported()) continue;
    const std::string gz = plain + ".gz";
    write_idx(gz, tensors[i]);
    EXPECT_TRUE(is_gzip(read_file_bytes(gz).data(), read_file_bytes(gz).size()));
    EXPECT_TRUE(all_equal(read_idx(gz), tensors[i])) << gz;
  }
}

TEST(Idx, WidensInt8AndInt16ToInt32) {
  TempDir dir;
  const std::string i8 = dir.write("i8", header(0x09, {3}) + std::string("\x80\xff\x05", 3));
  EXPECT_TRUE(all_equal(read_idx(i8), Tensor::from_vector<std::int32_t>({-128, -1, 5}, {3})));
  const std::string i16 = dir.write("i16", header(0x0B, {2}) + std::string("\x80\x00\x01\x02", 4));
  EXPECT_TRUE(all_equal(read_idx(i16), Tensor::from_vector<std::int32_t>({-32768, 258}, {2})));
}

TEST(Idx, RecognisesGzipByContentNotByName) {
  REQUIRE_ZLIB();
  TempDir dir;
  const std::string path = dir.write("images-idx3-ubyte", gzip_compress(idx_bytes(sample_u8())));
  EXPECT_TRUE(all_equal(read_idx(path), sample_u8()));
}

TEST(Idx, ReadsConcatenatedGzipMembers) {
  REQUIRE_ZLIB();
  TempDir dir;
  const std::string bytes = idx_bytes(sample_u8());
  const std::string path =
      dir.write("two.gz", gzip_compress(bytes.substr(0, 10)) + gzip_compress(bytes.substr(10)));
  EXPECT_TRUE(all_equal(read_idx(path), sample_u8()));
}

TEST(Idx, ZeroSizedDimensionsAreValid) {
  TempDir dir;
  const Tensor t = read_idx(dir.write("empty", header(0x08, {0, 28, 28})));
  EXPECT_EQ(t.shape(), (Shape{0, 28, 28}));
}

TEST(Idx, RejectsMissingFilesAndBadHeaders) {
  TempDir dir;
  EXPECT_IDX_ERROR(dir.file("absent"), "cannot open");
  EXPECT_IDX_ERROR(dir.write("empty", ""), "short IDX header");
  EXPECT_IDX_ERROR(dir.write("three", std::string("\0\0\x08", 3)), "short IDX header");
  EXPECT_IDX_ERROR(dir.write("magic", std::string("\x01\x00\x08\x01", 4) + std::string(4, '\0')),
                   "bad magic number 0x01 0x00 0x08 0x01");
  EXPECT_IDX_ERROR(dir.write("png", "\x89PNG\r\n\x1a\n"), "bad magic");
  EXPECT_IDX_ERROR(dir.write("type", header(0x0A, {1}) + "x"), "unknown IDX element type 0x0a");
  EXPECT_IDX_ERROR(dir.write("ndims0", header(0x08, {})), "declares 0 dimensions");
  EXPECT_IDX_ERROR(dir.write("ndims9", header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}) + "x"),
                   "declares 9 dimensions");
  EXPECT_IDX_ERROR(dir.write("dims", header(0x08, {2, 2}).substr(0, 10)),
                   "ends inside the sizes of its 2 dimensions");
}

TEST(Idx, RejectsSizesThatOverflowOrDisagreeWithTheData) {
  TempDir dir;
  EXPECT_IDX_ERROR(dir.write("overflow", header(0x08, {0xffffffffu, 0xffffffffu, 0xffffffffu})),
                   "overflow");
  EXPECT_IDX_ERROR(dir.write("overflow64", header(0x0E, {0xffffffffu, 0xffffffffu})), "overflow");
  // Empty (a zero size), but the strides of the other sizes would overflow (found by fuzzing).
  EXPECT_IDX_ERROR(dir.write("empty_overflow", header(0x0C, {3, 0xfffffff9u, 0, 0x7fffffffu})),
                   "overflow");
  // Claims 2^44 bytes: rejected without allocating them.
  EXPECT_IDX_ERROR(dir.write("huge", header(0x08, {0xfffff, 0xffffff}) + "abc"),
                   "truncated IDX data: 3 bytes");
  EXPECT_IDX_ERROR(dir.write("short", header(0x0D, {2, 2}) + std::string(15, '\0')), "expected 16");
  EXPECT_IDX_ERROR(dir.write("long", header(0x08, {2, 2}) + std::string(5, '\0')),
                   "1 unexpected bytes after the IDX data");
}

TEST(Idx, RejectsBadGzipStreams) {
  REQUIRE_ZLIB();
  TempDir dir;
  const std::string gz = gzip_compress(idx_bytes(sample_u8()));
  EXPECT_IDX_ERROR(dir.write("cut.gz", gz.substr(0, gz.size() / 2)), "ends early");
  EXPECT_IDX_ERROR(dir.write("magiconly.gz", gz.substr(0, 2)), "ends early");
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
  EXPECT_IDX_ERROR(dir.write("crc.gz", bad_crc), "corrupt gzip data");
  std::string bad_method = gz;
  bad_method[2] = 9;  // compression method 9 does not exist
  EXPECT_IDX_ERROR(dir.write("method.gz", bad_method), "corrupt gzip data");
  EXPECT_IDX_ERROR(dir.write("garbage.gz", gz + "junk"), "after the end of the gzip stream");

  const std::string idx = idx_bytes(sample_u8());
  EXPECT_IDX_ERROR(dir.write("short.gz", gzip_compress(idx.substr(0, idx.size() - 1))),
                   "the decompressed data holds 23 bytes");
  EXPECT_IDX_ERROR(dir.write("long.gz", gzip_compress(idx + "x")),
                   "unexpected bytes after the IDX data");
  EXPECT_IDX_ERROR(dir.write("hdr.gz", gzip_compress(idx.substr(0, 5))), "short IDX header");
  // A header claiming 2^44 bytes over a tiny stream costs no more than the stream.
  EXPECT_IDX_ERROR(dir.write("huge.gz", gzip_compress(header(0x08, {0xfffff, 0xffffff}) + "abc")),
                   "holds 3 bytes");
}

TEST(Idx, GzipWithoutZlibSaysSo) {
  if (gzip_supported()) GTEST_SKIP() << "this build reads gzip (zlib); the other branch is tested";
  TempDir dir;
  EXPECT_IDX_ERROR(dir.write("x.gz", std::string("\x1f\x8b\x08\x00", 4)), "without zlib");
  EXPECT_THROW(gzip_compress("abc"), IoError);
}

TEST(Idx, EveryTruncationAndRandomCorruptionIsAnIoErrorOrAValidTensor) {
  TempDir dir;
  std::vector<std::string> files = {idx_bytes(sample_u8())};
  if (gzip_supported()) files.push_back(gzip_compress(files[0]));
  for (const std::string& bytes : files) {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_THROW(parse_idx(bytes.data(), n, "cut"), IoError) << n;
    }
    for (std::int64_t trial = 0; trial < 300; ++trial) {
      std::string mutated = bytes;
      const std::uint32_t r = uniform_u32(99, 0, trial);
      mutated[r % mutated.size()] = static_cast<char>(r >> 16);
      try {
        parse_idx(mutated.data(), mutated.size(), "mutated");
      } catch (const IoError&) {
      }
    }
  }
}

TEST(Idx, WriterRejectsWhatIdxCannotHold) {
  TempDir dir;
  EXPECT_THROW(write_idx(dir.file("x"), Tensor::zeros({2}, DType::kInt64)), ValueError);
  EXPECT_THROW(write_idx(dir.file("x"), Tensor::zeros({}, DType::kUInt8)), ValueError);
}

}  // namespace
}  // namespace cudanet::train
