// ImageLoader: every sample once per epoch, the same batches whatever the worker count, resume
// by seek, bad files skipped (or an error in strict mode), worker exceptions re-thrown, bounded
// read-ahead, and shutdown that never hangs.
#include "train/image_loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/error.h"
#include "temp_dir.h"
#include "train/synthetic_images.h"

namespace cudanet::train {
namespace {

using testing::TempDir;

#define REQUIRE_JPEG() \
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo"

// 3 classes × 5 images of 40×30 in `dir`.
ImageList small_folder(const TempDir& dir) {
  SyntheticFolderOptions o;
  o.classes = 3;
  o.per_class = 5;
  o.width = 40;
  o.height = 30;
  o.seed = 3;
  write_synthetic_imagefolder(dir.path(), o);
  return scan_image_folder(dir.path());
}

ImageLoaderOptions small_options(int workers) {
  ImageLoaderOptions o;
  o.batch_size = 4;
  o.seed = 11;
  o.workers = workers;
  o.transform.resize = 32;
  o.transform.crop = 24;
  return o;
}

struct Epoch {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<std::int64_t>> labels;
};

Epoch read_epoch(ImageLoader& loader) {
  Epoch e;
  Batch b;
  while (loader.next(b)) {
    e.images.push_back(b.images.to_vector<float>());
    e.labels.push_back(b.labels.to_vector<std::int64_t>());
  }
  return e;
}

TEST(ImageLoader, DeliversEverySampleOncePerEpochInShapedBatches) {
  REQUIRE_JPEG();
  TempDir d;
  ImageLoader loader(small_folder(d), small_options(3));
  EXPECT_EQ(loader.num_batches(), 4);
  EXPECT_EQ(loader.sample_shape(), (Shape{3, 24, 24}));
  loader.start_epoch(0);
  std::vector<std::int64_t> labels;
  Batch b;
  std::int64_t index = 0;
  while (loader.next(b)) {
    EXPECT_EQ(b.index, index++);
    EXPECT_EQ(b.images.shape(), (Shape{b.size(), 3, 24, 24}));
    EXPECT_EQ(b.size(), index < 4 ? 4 : 3);
    for (std::int64_t l : b.labels.to_vector<std::int64_t>()) labels.push_back(l);
    const std::vector<float> px = b.images.to_vector<float>();
    EXPECT_TRUE(std::all_of(px.begin(), px.end(), [](float v) { return std::abs(v) < 3; }));
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<std::int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2}));
  EXPECT_EQ(loader.skipped(), 0);
}

TEST(ImageLoader, SameBatchesWhateverTheWorkerCountAndNewOnesEachEpoch) {
  REQUIRE_JPEG();
  TempDir d;
  const ImageList list = small_folder(d);
  ImageLoader one(list, small_options(1));
  ImageLoader four(list, small_options(4));
  for (std::int64_t epoch : {0, 1}) {
    one.start_epoch(epoch);
    four.start_epoch(epoch);
    const Epoch a = read_epoch(one), b = read_epoch(four);
    EXPECT_EQ(a.labels, b.labels) << "epoch " << epoch;
    EXPECT_EQ(a.images, b.images) << "epoch " << epoch;
  }
  one.start_epoch(0);
  const Epoch e0 = read_epoch(one);
  one.start_epoch(1);
  EXPECT_NE(e0.images, read_epoch(one).images);  // another order and other crops
}

TEST(ImageLoader, SeekResumesMidEpochWithTheSameBatches) {
  REQUIRE_JPEG();
  TempDir d;
  const ImageList list = small_folder(d);
  ImageLoader full(list, small_options(2));
  full.start_epoch(2);
  const Epoch whole = read_epoch(full);
  ImageLoader resumed(list, small_options(3));
  resumed.start_epoch(0);
  Batch b;
  ASSERT_TRUE(resumed.next(b));  // some work of another epoch in flight, then a jump
  resumed.seek({2, 2});
  EXPECT_EQ(resumed.position(), (LoaderPosition{2, 2}));
  const Epoch rest = read_epoch(resumed);
  ASSERT_EQ(rest.images.size(), 2u);
  EXPECT_EQ(rest.images[0], whole.images[2]);
  EXPECT_EQ(rest.labels[1], whole.labels[3]);
  EXPECT_THROW(resumed.seek({0, 5}), ValueError);
}

TEST(ImageLoader, BadFilesAreSkippedCountedAndReported) {
  REQUIRE_JPEG();
  TempDir d;
  ImageList list = small_folder(d);
  d.write("class01/zz_truncated.jpg", "\xff\xd8\xff\xe0 truncated");
  d.write("class02/zz_text.jpg", "hello");
  list = scan_image_folder(d.path());
  ASSERT_EQ(list.size(), 17);
  ImageLoaderOptions o = small_options(2);
  std::mutex m;
  std::vector<std::string> warnings;
  o.warn = [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(m);
    warnings.push_back(w);
  };
  ImageLoader loader(list, o);
  std::int64_t n = 0;
  Batch b;
  while (loader.next(b)) n += b.size();
  EXPECT_EQ(n, 15);
  EXPECT_EQ(loader.skipped(), 2);
  ASSERT_EQ(warnings.size(), 2u);
  std::sort(warnings.begin(), warnings.end());
  EXPECT_NE(warnings[0].find("zz_t"), std::string::npos) << warnings[0];

  o.strict = true;
  ImageLoader strict(list, o);
  try {
    while (strict.next(b)) {
    }
    FAIL() << "strict mode accepted a bad file";
  } catch (const IoError& e) {
    EXPECT_NE(e.message().find("zz_t"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("strict"), std::string::npos) << e.message();
  }
}

TEST(ImageLoader, WorkerExceptionsReachTheConsumerAndShutdownIsClean) {
  REQUIRE_JPEG();
  TempDir d;
  const ImageList list = small_folder(d);
  ImageLoaderOptions o = small_options(3);
  std::atomic<int> reads{0};
  o.read_file = [&](const std::string& path) -> std::string {
    if (++reads == 6) throw std::runtime_error("disk on fire");
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  ImageLoader loader(list, o);
  Batch b;
  try {
    while (loader.next(b)) {
    }
    FAIL() << "the worker's exception was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "disk on fire");
  }
  // The loader is still usable after a failed epoch.
  reads = 100;
  loader.start_epoch(1);
  std::int64_t n = 0;
  while (loader.next(b)) n += b.size();
  EXPECT_EQ(n, 15);
}

TEST(ImageLoader, ReadsAheadBoundedAndStopsPromptlyWhenDestroyed) {
  REQUIRE_JPEG();
  TempDir d;
  const ImageList list = small_folder(d);
  ImageLoaderOptions o = small_options(4);
  o.batch_size = 2;
  o.prefetch = 2;
  std::atomic<int> reads{0};
  o.read_file = [&](const std::string& path) {
    ++reads;
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  const auto t0 = std::chrono::steady_clock::now();
  {
    ImageLoader loader(list, o);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // Batch 0 delivered (slot still held), so at most batches 0..2 were read: 6 files of 15.
    EXPECT_LE(reads.load(), 6);
    EXPECT_GE(reads.load(), 2);
  }  // destroyed with workers blocked on the full queue
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(ImageLoader, RejectsBadOptions) {
  ImageList list;
  EXPECT_THROW(ImageLoader(list, ImageLoaderOptions()), ValueError);
  list.paths = {"a.jpg"};
  list.labels = {0};
  list.classes = {"a"};
  ImageLoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(ImageLoader(list, o), ValueError);
  o = ImageLoaderOptions();
  o.prefetch = 1;
  EXPECT_THROW(ImageLoader(list, o), ValueError);
  o = ImageLoaderOptions();
  o.transform.resize = 10;
  EXPECT_THROW(ImageLoader(list, o), ValueError);
}

}  // namespace
}  // namespace cudanet::train
