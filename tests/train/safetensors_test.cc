// safetensors: the exact bytes of a small file, round trips of every dtype, atomic replacement,
// and every kind of malformed file the reader must reject.
#include "train/safetensors.h"

#include <cctype>
#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>

#include "core/philox.h"
#include "tensor_testing.h"
#include "train/idx.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

using cudanet::testing::all_equal;
using cudanet::testing::TempDir;

std::string le64(std::uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return s;
}

// A file with header `json` and `data_bytes` bytes of data.
std::string file_bytes(const std::string& json, std::size_t data_bytes) {
  return le64(json.size()) + json + std::string(data_bytes, '\x07');
}

TEST(Safetensors, WritesTheBytesTheSpecificationDescribes) {
  const std::string bytes =
      safetensors_bytes({{"a", Tensor::from_vector<float>({1.0f, 2.0f}, {2})}});
  std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  const std::string expected = le64(json.size()) + json + std::string("\x00\x00\x80\x3f", 4) +
                               std::string("\x00\x00\x00\x40", 4);
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(json.size() % 8, 0u);

  const std::string with_meta =
      safetensors_bytes({{"w", Tensor::from_vector<std::uint8_t>({5}, {1})}}, {{"epoch", "3"}});
  const std::string prefix = R"({"__metadata__":{"epoch":"3"},"w":{"dtype":"U8",)";
  EXPECT_EQ(with_meta.compare(8, prefix.size(), prefix), 0) << with_meta;
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  Tensor half = Tensor::empty({3}, DType::kFloat16);
  half.fill_(1.5);
  Tensor bf16 = Tensor::empty({2, 2}, DType::kBFloat16);
  bf16.fill_(-0.25);
  const NamedTensors tensors = {
      {"conv1.weight", cudanet::testing::random_tensor({4, 3, 2, 2}, DType::kFloat32, 1)},
      {"fc.bias", cudanet::testing::random_tensor({5}, DType::kFloat64, 2)},
      {"half", half},
      {"bf16", bf16},
      {"i32", Tensor::from_vector<std::int32_t>({-1, 2, 3}, {3})},
      {"i64", Tensor::from_vector<std::int64_t>({1LL << 40, -7}, {2, 1})},
      {"u8", Tensor::from_vector<std::uint8_t>({0, 255}, {2})},
      {"scalar", Tensor::full({}, 3.5, DType::kFloat32)},
      {"empty", Tensor::zeros({0, 3}, DType::kFloat32)},
      {"ünïcode name", Tensor::zeros({1}, DType::kInt64)},
  };
  const Metadata metadata = {{"format", "pt"}, {"epoch", "7"}, {"rng", "123 456"}};
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, tensors, metadata);
  const SafetensorsContents loaded = load_safetensors(path);
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded.tensors[i].first, tensors[i].first);  // file order = write order
    const Tensor& t = loaded.at(tensors[i].first);
    EXPECT_EQ(t.dtype(), tensors[i].second.dtype()) << tensors[i].first;
    EXPECT_EQ(t.shape(), tensors[i].second.shape()) << tensors[i].first;
    EXPECT_TRUE(t.device().is_cpu());
    if (t.dtype() == DType::kFloat16 || t.dtype() == DType::kBFloat16) {
      EXPECT_EQ(std::memcmp(t.data_ptr(), tensors[i].second.data_ptr(), t.nbytes()), 0);
    } else {
      EXPECT_TRUE(all_equal(t, tensors[i].second)) << tensors[i].first;
    }
  }
  EXPECT_EQ(loaded.find("missing"), nullptr);
  EXPECT_THROW(loaded.at("missing"), ValueError);
  // The same bytes parse from memory.
  const std::string bytes = read_file_bytes(path);
  EXPECT_EQ(bytes, safetensors_bytes(tensors, metadata));
  EXPECT_EQ(parse_safetensors(bytes.data(), bytes.size()).tensors.size(), tensors.size());
}

TEST(Safetensors, MapOverloadWritesInNameOrderAndNonContiguousTensorsArePacked) {
  TempDir dir;
  const Tensor big = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  std::map<std::string, Tensor> m = {{"z", big.narrow(1, 1, 1)}, {"a", big}};
  save_safetensors(dir.file("m.safetensors"), m);
  const auto loaded = load_safetensors(dir.file("m.safetensors"));
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_EQ(loaded.tensors[0].first, "a");
  EXPECT_EQ(loaded.at("z").shape(), (Shape{3, 1}));
  EXPECT_EQ(loaded.at("z").to_vector<float>(), (std::vector<float>{1, 3, 5}));
}

TEST(Safetensors, ReadsTensorsListedOutOfOffsetOrder) {
  // Python's writer orders data by dtype and name; the JSON order need not follow the data.
  const std::string json = R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
                           R"("a":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})";
  const std::string bytes = le64(json.size()) + json + std::string("\x01\x00\x00\x00\x09\x08", 6);
  const auto loaded = parse_safetensors(bytes.data(), bytes.size());
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_EQ(loaded.tensors[0].first, "a");
  EXPECT_EQ(loaded.at("a").item(), 1.0);
  EXPECT_EQ(loaded.at("b").to_vector<std::uint8_t>(), (std::vector<std::uint8_t>{9, 8}));
}

TEST(Safetensors, ReplacesFilesAtomicallyAndLeavesNoTemporaryFiles) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, NamedTensors{{"x", Tensor::full({2}, 1.0)}});
  save_safetensors(path, NamedTensors{{"x", Tensor::full({3}, 2.0)}});
  EXPECT_EQ(load_safetensors(path).at("x").shape(), (Shape{3}));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "ckpt.safetensors");
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_THROW(save_safetensors(dir.file("no/such/dir.safetensors"), NamedTensors{}), IoError);
}

TEST(Safetensors, WriterRejectsBadNamesAndTensors) {
  TempDir dir;
  const Tensor t = Tensor::zeros({1});
  EXPECT_THROW(save_safetensors(dir.file("a"), NamedTensors{{"x", t}, {"x", t}}), ValueError);
  EXPECT_THROW(save_safetensors(dir.file("a"), NamedTensors{{"__metadata__", t}}), ValueError);
  EXPECT_THROW(save_safetensors(dir.file("a"), NamedTensors{{"x", Tensor()}}), ValueError);
  EXPECT_THROW(save_safetensors(dir.file("a"), NamedTensors{{std::string("\xff\xfe"), t}}),
               ValueError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("a")));
}

struct BadFile {
  const char* what;
  std::string bytes;
  const char* needle;
};

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

std::vector<BadFile> bad_files() {
  const std::string f32x2 = entry("a", "\"F32\"", "[2]", "[0,8]");
  return {
      {"short", "abc", "too short"},
      {"huge header", le64(200'000'000) + "{}", "exceeds the limit of 100000000"},
      {"header past end", le64(100) + "{}", "runs past the end of the file"},
      {"invalid json", file_bytes("{\"a\":", 0), "not valid JSON"},
      {"trailing json", file_bytes("{}x", 0), "not valid JSON"},
      {"bad utf-8", file_bytes("{\"\xff\":1}", 0), "not valid JSON"},
      {"not an object", file_bytes("[1,2]", 0), "not a JSON object"},
      {"entry not object", file_bytes("{\"a\":5}", 0), "is not an object"},
      {"missing field", file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", 8),
       "has no \"data_offsets\""},
      {"unknown field",
       file_bytes(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", 4),
       "unknown field \"x\""},
      {"unknown dtype", file_bytes("{" + entry("a", "\"F33\"", "[2]", "[0,8]") + "}", 8),
       "unknown dtype \"F33\""},
      {"unsupported dtype", file_bytes("{" + entry("a", "\"BOOL\"", "[2]", "[0,2]") + "}", 2),
       "does not support"},
      {"dtype not string", file_bytes("{" + entry("a", "7", "[2]", "[0,8]") + "}", 8),
       "dtype that is not a string"},
      {"shape not array", file_bytes("{" + entry("a", "\"F32\"", "2", "[0,8]") + "}", 8),
       "shape that is not an array"},
      {"negative dim", file_bytes("{" + entry("a", "\"F32\"", "[-2]", "[0,8]") + "}", 8),
       "has a dimension -2"},
      {"fractional dim", file_bytes("{" + entry("a", "\"F32\"", "[2.0]", "[0,8]") + "}", 8),
       "expected a non-negative integer"},
      {"string dim", file_bytes("{" + entry("a", "\"F32\"", "[\"2\"]", "[0,8]") + "}", 8),
       "expected a non-negative integer"},
      {"too many dims",
       file_bytes("{" + entry("a", "\"U8\"", "[1,1,1,1,1,1,1,1,1]", "[0,1]") + "}", 1),
       "9 dimensions"},
      {"overflowing shape",
       file_bytes("{" + entry("a", "\"F32\"", "[4294967296,4294967296,4]", "[0,8]") + "}", 8),
       "overflows"},
      {"huge dim",
       file_bytes("{" + entry("a", "\"U8\"", "[99999999999999999999]", "[0,1]") + "}", 1),
       "expected a non-negative integer"},
      {"dim past int64",
       file_bytes("{" + entry("a", "\"U8\"", "[0,9223372036854775808]", "[0,0]") + "}", 0),
       "larger than 2^63 - 1"},
      {"size mismatch", file_bytes("{" + entry("a", "\"F32\"", "[3]", "[0,8]") + "}", 8),
       "needs 12 bytes"},
      {"reversed offsets", file_bytes("{" + entry("a", "\"U8\"", "[0]", "[8,0]") + "}", 8),
       "out of order"},
      {"one offset", file_bytes("{" + entry("a", "\"U8\"", "[0]", "[0]") + "}", 0),
       "expected [begin, end]"},
      {"negative offset", file_bytes("{" + entry("a", "\"U8\"", "[1]", "[-1,0]") + "}", 1),
       "data offset -1"},
      {"past the data", file_bytes("{" + f32x2 + "}", 4), "running past the end"},
      {"overlap", file_bytes("{" + f32x2 + "," + entry("b", "\"F32\"", "[2]", "[4,12]") + "}", 12),
       "overlaps tensor \"a\""},
      {"gap", file_bytes("{" + f32x2 + "," + entry("b", "\"F32\"", "[1]", "[12,16]") + "}", 16),
       "a gap of 4 bytes"},
      {"leading gap", file_bytes("{" + entry("a", "\"F32\"", "[1]", "[4,8]") + "}", 8),
       "a gap of 4 bytes"},
      {"unused data", file_bytes("{" + f32x2 + "}", 9), "1 bytes of the data buffer belong to no"},
      {"duplicate names",
       file_bytes("{" + f32x2 + "," + entry("a", "\"F32\"", "[2]", "[8,16]") + "}", 16),
       "duplicate name \"a\""},
      {"duplicate fields",
       file_bytes(R"({"a":{"dtype":"F32","dtype":"U8","shape":[0],"data_offsets":[0,0]}})", 0),
       "duplicate name \"dtype\""},
      {"duplicate metadata", file_bytes(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
       "duplicate name \"k\""},
      {"metadata not strings", file_bytes(R"({"__metadata__":{"k":1}})", 0), "is not a string"},
      {"metadata not object", file_bytes(R"({"__metadata__":[]})", 0), "not an object of strings"},
      {"deep nesting", file_bytes(R"({"a":{"dtype":"F32","shape":[[[1]]]}})", 0), "nests deeper"},
      {"empty with overflowing strides",
       file_bytes("{" + entry("a", "\"F32\"", "[0,4294967296,4294967296,4]", "[0,0]") + "}", 0),
       "overflows"},
  };
}

// One test per kind of malformed file (named after it), each read from a file and from memory.
class SafetensorsRejects : public ::testing::TestWithParam<BadFile> {};

TEST_P(SafetensorsRejects, WithAnIoErrorNamingTheFileAndTheProblem) {
  const BadFile& c = GetParam();
  TempDir dir;
  const std::string path = dir.write("bad.safetensors", c.bytes);
  for (int from_memory = 0; from_memory < 2; ++from_memory) {
    try {
      if (from_memory) {
        parse_safetensors(c.bytes.data(), c.bytes.size(), path);
      } else {
        load_safetensors(path);
      }
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const IoError& e) {
      EXPECT_NE(e.message().find(c.needle), std::string::npos) << c.what << ": " << e.message();
      EXPECT_NE(e.message().find(path), std::string::npos) << c.what << ": " << e.message();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsRejects, ::testing::ValuesIn(bad_files()),
                         [](const ::testing::TestParamInfo<BadFile>& p) {
                           std::string name;
                           for (const char* c = p.param.what; *c != '\0'; ++c) {
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           }
                           return name;
                         });

TEST(Safetensors, RejectsMissingFilesAndDirectories) {
  TempDir dir;
  EXPECT_THROW(load_safetensors(dir.file("absent")), IoError);
  EXPECT_THROW(load_safetensors(dir.path()), IoError);  // a directory
}

TEST(Safetensors, EveryTruncationAndRandomCorruptionIsAnIoErrorOrAValidFile) {
  const std::string bytes = safetensors_bytes(
      {{"w", Tensor::from_vector<float>({1, 2, 3}, {3})}, {"b", Tensor::zeros({2}, DType::kInt64)}},
      {{"k", "v"}});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(parse_safetensors(bytes.data(), n), IoError) << n;
  }
  for (std::int64_t trial = 0; trial < 2000; ++trial) {
    std::string mutated = bytes;
    const std::uint32_t r = uniform_u32(7, 0, trial);
    mutated[r % mutated.size()] = static_cast<char>(r >> 24);
    try {
      parse_safetensors(mutated.data(), mutated.size());
    } catch (const IoError&) {
    }
  }
}

}  // namespace
}  // namespace cudanet::train
