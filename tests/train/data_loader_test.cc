// DataLoader: batch sizes, the last batch, seeded shuffling per epoch, and resuming mid-epoch.
#include "train/data_loader.h"

#include <algorithm>
#include <gtest/gtest.h>

namespace cudanet::train {
namespace {

// n images of 2×1×3 whose pixels all equal the sample's index; label = index % 10.
Dataset indexed_dataset(std::int64_t n) {
  std::vector<float> px;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) px.push_back(static_cast<float>(i));
    labels.push_back(i % 10);
  }
  return Dataset(Tensor::from_vector(px, {n, 2, 1, 3}), Tensor::from_vector(labels, {n}), 10);
}

// The sample indices of a batch, checked for consistency between images and labels.
std::vector<std::int64_t> sample_ids(const Batch& b) {
  const std::vector<float> px = b.images.to_vector<float>();
  const std::vector<std::int64_t> labels = b.labels.to_vector<std::int64_t>();
  std::vector<std::int64_t> ids;
  for (std::int64_t k = 0; k < b.size(); ++k) {
    const auto id = static_cast<std::int64_t>(px[static_cast<std::size_t>(6 * k)]);
    for (int j = 0; j < 6; ++j) EXPECT_EQ(px[static_cast<std::size_t>(6 * k + j)], id);
    EXPECT_EQ(labels[static_cast<std::size_t>(k)], id % 10);
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::vector<std::int64_t>> epoch_ids(DataLoader& loader, std::int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::vector<std::int64_t>> out;
  Batch b;
  while (loader.next(b)) {
    EXPECT_EQ(b.epoch, epoch);
    EXPECT_EQ(b.index, static_cast<std::int64_t>(out.size()));
    out.push_back(sample_ids(b));
  }
  return out;
}

TEST(DataLoader, KeepsOrDropsThePartialLastBatch) {
  DataLoader keep(indexed_dataset(10), {4, false, false, 0, Device::cpu()});
  EXPECT_EQ(keep.num_batches(), 3);
  EXPECT_EQ(keep.num_samples(), 10);
  const auto batches = epoch_ids(keep, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(batches[2], (std::vector<std::int64_t>{8, 9}));

  DataLoader drop(indexed_dataset(10), {4, false, true, 0, Device::cpu()});
  EXPECT_EQ(drop.num_batches(), 2);
  EXPECT_EQ(drop.num_samples(), 8);
  EXPECT_EQ(epoch_ids(drop, 0).size(), 2u);

  DataLoader exact(indexed_dataset(8), {4, true, true, 0, Device::cpu()});
  EXPECT_EQ(exact.num_batches(), 2);
  EXPECT_THROW(DataLoader(indexed_dataset(8), {0, true, false, 0, Device::cpu()}), ValueError);
}

TEST(DataLoader, BatchShapesAndDtypes) {
  DataLoader loader(indexed_dataset(5), {2, true, false, 3, Device::cpu()});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.images.shape(), (Shape{2, 2, 1, 3}));
  EXPECT_EQ(b.images.dtype(), DType::kFloat32);
  EXPECT_EQ(b.labels.shape(), (Shape{2}));
  EXPECT_EQ(b.labels.dtype(), DType::kInt64);
  EXPECT_TRUE(b.images.device().is_cpu());
}

TEST(DataLoader, ShuffleIsAPermutationDeterminedBySeedAndEpoch) {
  const DataLoaderOptions opts{8, true, false, 42, Device::cpu()};
  DataLoader a(indexed_dataset(50), opts);
  DataLoader b(indexed_dataset(50), opts);
  const auto e0 = epoch_ids(a, 0);
  EXPECT_EQ(e0, epoch_ids(b, 0));
  const auto e1 = epoch_ids(a, 1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e1, epoch_ids(b, 1));
  EXPECT_EQ(e0, epoch_ids(a, 0));  // going back reproduces an epoch
  // Epoch e of seed s is epoch e - 1 of seed s + 1 (the order depends on seed + epoch only).
  DataLoader c(indexed_dataset(50), {8, true, false, 43, Device::cpu()});
  EXPECT_EQ(epoch_ids(c, 0), e1);

  std::vector<std::int64_t> all;
  for (const auto& batch : e0) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], i);
  EXPECT_NE(e0[0], (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(DataLoader, ResumesMidEpochWithTheSameBatches) {
  const DataLoaderOptions opts{6, true, false, 9, Device::cpu()};
  DataLoader full(indexed_dataset(40), opts);
  const auto expected = epoch_ids(full, 3);

  DataLoader first(indexed_dataset(40), opts);
  first.start_epoch(3);
  Batch b;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(first.next(b));
  const LoaderPosition saved = first.position();
  EXPECT_EQ(saved.epoch, 3);
  EXPECT_EQ(saved.batch, 4);

  DataLoader resumed(indexed_dataset(40), opts);
  resumed.seek(saved);
  std::vector<std::vector<std::int64_t>> rest;
  while (resumed.next(b)) {
    EXPECT_EQ(b.index, saved.batch + static_cast<std::int64_t>(rest.size()));
    rest.push_back(sample_ids(b));
  }
  EXPECT_EQ(rest, std::vector<std::vector<std::int64_t>>(expected.begin() + 4, expected.end()));
  EXPECT_EQ(sample_ids(resumed.batch(2)), expected[2]);  // random access, position unchanged
  EXPECT_EQ(resumed.position().batch, resumed.num_batches());
  EXPECT_THROW(resumed.seek({3, resumed.num_batches() + 1}), ValueError);
  EXPECT_THROW(resumed.start_epoch(-1), ValueError);
}

TEST(DataLoader, EmptyDatasetHasNoBatches) {
  DataLoader loader(Dataset(Tensor::zeros({0, 1, 2, 2}), Tensor::zeros({0}, DType::kInt64), 2),
                    {4, true, false, 0, Device::cpu()});
  EXPECT_EQ(loader.num_batches(), 0);
  Batch b;
  EXPECT_FALSE(loader.next(b));
}

}  // namespace
}  // namespace cudanet::train
