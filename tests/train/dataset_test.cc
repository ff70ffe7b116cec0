// Datasets: validation, normalisation, splits, and the MNIST-format directory loaders (with a
// small fake set written here, and the real Fashion-MNIST when it is installed).
#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor_testing.h"
#include "train/fashion_mnist.h"
#include "train/gzip.h"
#include "train/idx.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

using cudanet::testing::all_close;
using cudanet::testing::all_equal;
using cudanet::testing::TempDir;

// n images of 1×2×2 whose pixels are all equal to the image's index, labels i % classes.
Dataset indexed_dataset(std::int64_t n, std::int64_t classes = 3) {
  std::vector<float> px;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) px.push_back(static_cast<float>(i));
    labels.push_back(i % classes);
  }
  return Dataset(Tensor::from_vector(px, {n, 1, 2, 2}), Tensor::from_vector(labels, {n}), classes);
}

TEST(Dataset, ValidatesShapesDtypesAndLabels) {
  const Tensor images = Tensor::zeros({3, 1, 2, 2});
  EXPECT_NO_THROW(Dataset(images, Tensor::from_vector<std::int64_t>({0, 1, 2}, {3}), 3));
  EXPECT_THROW(Dataset(Tensor::zeros({3, 2, 2}), Tensor::zeros({3}, DType::kInt64), 3), ShapeError);
  EXPECT_THROW(Dataset(images, Tensor::zeros({2}, DType::kInt64), 3), ShapeError);
  EXPECT_THROW(Dataset(images, Tensor::zeros({3}, DType::kInt32), 3), ValueError);
  EXPECT_THROW(
      Dataset(Tensor::zeros({3, 1, 2, 2}, DType::kFloat64), Tensor::zeros({3}, DType::kInt64), 3),
      ValueError);
  try {
    Dataset(images, Tensor::from_vector<std::int64_t>({0, 3, 1}, {3}), 3);
    ADD_FAILURE() << "label 3 of 3 classes accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(e.message().find("label 3 of sample 1 is outside [0, 3)"), std::string::npos)
        << e.message();
  }
  EXPECT_THROW(Dataset(images, Tensor::from_vector<std::int64_t>({0, -1, 1}, {3}), 3), ValueError);
}

TEST(Dataset, NarrowSubsetAndClassCounts) {
  const Dataset d = indexed_dataset(10);
  EXPECT_EQ(d.size(), 10);
  EXPECT_EQ(d.sample_shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(d.class_counts(), (std::vector<std::int64_t>{4, 3, 3}));
  const Dataset n = d.narrow(7, 3);
  EXPECT_EQ(n.images().to_vector<float>()[0], 7.0f);
  EXPECT_EQ(n.labels().to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 0}));
  const Dataset s = d.subset({9, 0, 4});
  EXPECT_EQ(s.labels().to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 1}));
  const std::vector<float> px = s.images().to_vector<float>();
  EXPECT_EQ(px[0], 9.0f);
  EXPECT_EQ(px[4], 0.0f);
  EXPECT_EQ(px[11], 4.0f);
  EXPECT_THROW(d.subset({10}), ValueError);
}

TEST(Dataset, NormalisesLikeToTensorThenNormalize) {
  const Tensor raw = Tensor::from_vector<std::uint8_t>({0, 51, 255, 102}, {1, 2, 2});
  const Tensor out = normalize_images(raw, {{0.5}, {0.25}});
  EXPECT_EQ(out.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(
      all_close(out, Tensor::from_vector<float>({-2.0f, -1.2f, 2.0f, -0.4f}, {1, 1, 2, 2})));
  EXPECT_THROW(normalize_images(raw, {{0.5}, {0.0}}), ValueError);
  EXPECT_THROW(normalize_images(raw, {{0.5, 0.5}, {1.0, 1.0}}), ValueError);
}

TEST(Dataset, ComputesPerChannelStatistics) {
  // Channel 0 holds 0 and 255 (mean 0.5, std 0.5), channel 1 is constant 51 (0.2, std 0).
  const Tensor raw =
      Tensor::from_vector<std::uint8_t>({0, 255, 51, 51, 255, 0, 51, 51}, {2, 2, 1, 2});
  const ChannelStats s = compute_channel_stats(raw);
  ASSERT_EQ(s.mean.size(), 2u);
  EXPECT_NEAR(s.mean[0], 0.5, 1e-12);
  EXPECT_NEAR(s.std[0], 0.5, 1e-12);
  EXPECT_NEAR(s.mean[1], 0.2, 1e-12);
  EXPECT_NEAR(s.std[1], 0.0, 1e-12);
  // After normalising with its own statistics a set has mean 0 and std 1 (float32 input is
  // taken as already scaled).
  const Tensor varied = cudanet::testing::small_int_tensor({5, 3, 4, 4}, DType::kFloat32, 3, 0, 9);
  const ChannelStats unit =
      compute_channel_stats(normalize_images(varied, compute_channel_stats(varied)));
  for (std::size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(unit.mean[c], 0.0, 1e-6);
    EXPECT_NEAR(unit.std[c], 1.0, 1e-6);
  }
}

TEST(Dataset, LabelsConvertFromAnyIntegerTypeWithRangeChecks) {
  EXPECT_EQ(
      labels_to_int64(Tensor::from_vector<std::uint8_t>({0, 9}, {2}), 10).to_vector<std::int64_t>(),
      (std::vector<std::int64_t>{0, 9}));
  EXPECT_THROW(labels_to_int64(Tensor::from_vector<std::uint8_t>({0, 10}, {2}), 10), ValueError);
  EXPECT_THROW(labels_to_int64(Tensor::zeros({2}), 10), ValueError);
  EXPECT_THROW(labels_to_int64(Tensor::zeros({2, 1}, DType::kInt64), 10), ShapeError);
}

TEST(Dataset, RandomPermutationIsSeededAndComplete) {
  const auto p = random_permutation(1000, 5);
  EXPECT_EQ(p, random_permutation(1000, 5));
  EXPECT_NE(p, random_permutation(1000, 6));
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_TRUE(random_permutation(0, 1).empty());
  EXPECT_EQ(random_permutation(1, 1), (std::vector<std::int64_t>{0}));
}

TEST(Dataset, SplitsLastOrRandomDeterministically) {
  const Dataset d = indexed_dataset(20);
  const auto last = split_train_validation(d, 5, SplitMode::kLast);
  EXPECT_EQ(last.train.size(), 15);
  EXPECT_EQ(last.validation.size(), 5);
  EXPECT_EQ(last.validation.images().to_vector<float>()[0], 15.0f);

  const auto a = split_train_validation(d, 5, SplitMode::kRandom, 7);
  const auto b = split_train_validation(d, 5, SplitMode::kRandom, 7);
  EXPECT_TRUE(all_equal(a.validation.images(), b.validation.images()));
  std::set<float> seen;
  for (const Dataset* part : {&a.train, &a.validation}) {
    const std::vector<float> px = part->images().to_vector<float>();
    for (std::size_t i = 0; i < px.size(); i += 4) seen.insert(px[i]);
    // Each part keeps the original order.
    for (std::size_t i = 4; i < px.size(); i += 4) EXPECT_LT(px[i - 4], px[i]);
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_FALSE(all_equal(a.validation.images(),
                         split_train_validation(d, 5, SplitMode::kRandom, 8).validation.images()));
  EXPECT_THROW(split_train_validation(d, 21), ValueError);
}

// A fake MNIST-format directory: `n` 3×2 images and labels.
void write_fake_mnist(const TempDir& dir, const std::string& prefix, std::int64_t n, bool gz,
                      std::uint8_t bad_label = 0) {
  std::vector<std::uint8_t> px, labels;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) px.push_back(static_cast<std::uint8_t>(i * 10 + k));
    labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  if (bad_label != 0) labels.back() = bad_label;
  const std::string ext = gz ? ".gz" : "";
  write_idx(dir.file(prefix + "-images-idx3-ubyte" + ext), Tensor::from_vector(px, {n, 3, 2}));
  write_idx(dir.file(prefix + "-labels-idx1-ubyte" + ext), Tensor::from_vector(labels, {n}));
}

TEST(MnistFormat, ReadsPlainAndGzipDirectories) {
  for (const bool gz : {false, true}) {
    if (gz && !gzip_supported()) continue;
    TempDir dir;
    write_fake_mnist(dir, "train", 12, gz);
    write_fake_mnist(dir, "t10k", 4, gz);
    const RawImageSet train = read_fashion_mnist(dir.path(), MnistSubset::kTrain);
    EXPECT_EQ(train.images.shape(), (Shape{12, 1, 3, 2}));
    EXPECT_EQ(train.images.dtype(), DType::kUInt8);
    EXPECT_EQ(train.labels.to_vector<std::int64_t>()[11], 1);
    const Dataset test = load_fashion_mnist(dir.path(), MnistSubset::kTest, {{0.0}, {1.0}});
    EXPECT_EQ(test.size(), 4);
    EXPECT_FLOAT_EQ(test.images().to_vector<float>()[7], 11.0f / 255.0f);
  }
}

TEST(MnistFormat, MissingDataSaysWhereAndWhichPackage) {
  TempDir dir;
  try {
    read_fashion_mnist(dir.file("nowhere"), MnistSubset::kTrain);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    const std::string m = e.message();
    EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
    EXPECT_NE(m.find(dir.file("nowhere/train-images-idx3-ubyte.gz")), std::string::npos) << m;
    EXPECT_NE(m.find("dataset-fashion-mnist"), std::string::npos) << m;
    EXPECT_NE(m.find(kFashionMnistDir), std::string::npos) << m;
  }
  write_fake_mnist(dir, "train", 3, false);
  ::unlink(dir.file("train-labels-idx1-ubyte").c_str());
  try {
    read_fashion_mnist(dir.path(), MnistSubset::kTrain);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(e.message().find("missing data file"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("train-labels-idx1-ubyte"), std::string::npos) << e.message();
  }
}

TEST(MnistFormat, RejectsBadLabelsAndMismatchedCounts) {
  TempDir dir;
  write_fake_mnist(dir, "train", 5, false, 10);
  EXPECT_THROW(read_fashion_mnist(dir.path(), MnistSubset::kTrain), IoError);
  write_idx(dir.file("train-labels-idx1-ubyte"), Tensor::zeros({4}, DType::kUInt8));
  try {
    read_fashion_mnist(dir.path(), MnistSubset::kTrain);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(e.message().find("4 labels for the 5 images"), std::string::npos) << e.message();
  }
}

TEST(FashionMnist, LoadsTheInstalledDataSet) {
  struct stat st {};
  if (::stat(kFashionMnistDir, &st) != 0) {
    GTEST_SKIP() << "Fashion-MNIST is not installed at " << kFashionMnistDir
                 << " (Debian package dataset-fashion-mnist)";
  }
  const RawImageSet train = read_fashion_mnist(kFashionMnistDir, MnistSubset::kTrain);
  EXPECT_EQ(train.images.shape(), (Shape{60000, 1, 28, 28}));
  const Dataset d(normalize_images(train.images, fashion_mnist_stats()), train.labels, 10);
  EXPECT_EQ(d.class_counts(), std::vector<std::int64_t>(10, 6000));
  const ChannelStats s = compute_channel_stats(train.images);
  EXPECT_NEAR(s.mean[0], fashion_mnist_stats().mean[0], 1e-9);
  EXPECT_NEAR(s.std[0], fashion_mnist_stats().std[0], 1e-9);
  const RawImageSet test = read_fashion_mnist(kFashionMnistDir, MnistSubset::kTest);
  EXPECT_EQ(test.images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(Dataset(normalize_images(test.images, s), test.labels, 10).class_counts(),
            std::vector<std::int64_t>(10, 1000));
}

}  // namespace
}  // namespace cudanet::train
