// DataLoader on a GPU: batches arrive on the device with the same contents as on the host.
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/data_loader.h"

namespace cudanet::train {
namespace {

Dataset indexed_dataset(std::int64_t n) {
  std::vector<float> px;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) px.push_back(static_cast<float>(i));
    labels.push_back(i % 10);
  }
  return Dataset(Tensor::from_vector(px, {n, 2, 1, 3}), Tensor::from_vector(labels, {n}), 10);
}

TEST(DataLoader, DeliversBatchesOnTheGpu) {
  CUDANET_REQUIRE_GPU();
  DataLoader loader(indexed_dataset(10), {4, true, false, 1, Device::cuda(0)});
  DataLoader host(indexed_dataset(10), {4, true, false, 1, Device::cpu()});
  Batch g, h;
  while (loader.next(g)) {
    ASSERT_TRUE(host.next(h));
    EXPECT_TRUE(g.images.device().is_cuda());
    EXPECT_TRUE(g.labels.device().is_cuda());
    EXPECT_EQ(g.images.to_vector<float>(), h.images.to_vector<float>());
    EXPECT_EQ(g.labels.to_vector<std::int64_t>(), h.labels.to_vector<std::int64_t>());
  }
}

}  // namespace
}  // namespace cudanet::train
