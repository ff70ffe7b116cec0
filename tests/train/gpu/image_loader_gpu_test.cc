// ImageLoader on a GPU: batches copied on the copy stream arrive with the host loader's contents,
// also to a consumer that never waits for them on the host, and a resumed GPU loader continues
// with the same batches.
#include <cmath>
#include <gtest/gtest.h>
#include <vector>

#include "kernels/reduce.h"
#include "test_util.h"
#include "train/image_loader.h"
#include "train/synthetic_images.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

// 36 small synthetic JPEGs of 4 classes, written into d.
ImageList write_small_images(const testing::TempDir& d) {
  SyntheticFolderOptions so;
  so.classes = 4;
  so.per_class = 9;
  so.width = 70;
  so.height = 50;
  write_synthetic_imagefolder(d.path(), so);
  return scan_image_folder(d.path());
}

// Batches of 5 crops of 40×40, decoded by 3 workers.
ImageLoaderOptions small_batches() {
  ImageLoaderOptions o;
  o.batch_size = 5;
  o.workers = 3;
  o.transform.resize = 48;
  o.transform.crop = 40;
  return o;
}

TEST(ImageLoader, DeliversTheHostBatchesOnTheGpu) {
  CUDANET_REQUIRE_GPU();
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  testing::TempDir d;
  const ImageList list = write_small_images(d);
  ImageLoaderOptions o = small_batches();
  ImageLoader host(list, o);
  o.device = Device::cuda(0);
  ImageLoader gpu(list, o);
  for (std::int64_t epoch : {0, 1}) {
    host.start_epoch(epoch);
    gpu.start_epoch(epoch);
    Batch h, g;
    while (gpu.next(g)) {
      ASSERT_TRUE(host.next(h));
      EXPECT_TRUE(g.images.device().is_cuda());
      EXPECT_EQ(g.index, h.index);
      EXPECT_EQ(g.images.to_vector<float>(), h.images.to_vector<float>());
      EXPECT_EQ(g.labels.to_vector<std::int64_t>(), h.labels.to_vector<std::int64_t>());
    }
    EXPECT_FALSE(host.next(h));
  }
  gpu.seek({1, 3});
  host.seek({1, 3});
  Batch h, g;
  ASSERT_TRUE(gpu.next(g));
  ASSERT_TRUE(host.next(h));
  EXPECT_EQ(g.images.to_vector<float>(), h.images.to_vector<float>());
}

// A consumer that never waits on the host, as a training loop's GPU steps do: each batch is summed
// on the compute stream as it arrives, and only the end synchronises. The loader must still wait
// for a slot's copy before decoding into it again; the emulator's race checker makes a slot
// refilled too early fault, and a batch read before its copy is waited for a stream-order race.
TEST(ImageLoader, FeedsAConsumerThatNeverWaits) {
  CUDANET_REQUIRE_GPU();
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  testing::TempDir d;
  const ImageList list = write_small_images(d);
  ImageLoaderOptions o = small_batches();
  std::vector<double> expected;
  ImageLoader host(list, o);
  o.device = Device::cuda(0);
  ImageLoader gpu(list, o);
  std::vector<Tensor> sums;
  for (std::int64_t epoch : {0, 1}) {
    host.start_epoch(epoch);
    gpu.start_epoch(epoch);
    Batch b;
    while (host.next(b)) expected.push_back(kernels::sum_all(b.images).item());
    while (gpu.next(b)) sums.push_back(kernels::sum_all(b.images));  // queued, not waited for
  }
  ASSERT_EQ(sums.size(), expected.size());
  for (std::size_t i = 0; i < sums.size(); ++i) {
    EXPECT_NEAR(sums[i].item(), expected[i], 1e-4 * std::abs(expected[i]) + 1e-3) << "batch " << i;
  }
}

}  // namespace
}  // namespace cudanet::train
