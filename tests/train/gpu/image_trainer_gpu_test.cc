// `cudanet train` on a JPEG ImageFolder on the GPU, eager and with --cuda-graph: both train
// (finite losses, summaries written), and the graph run captures once per epoch and replays
// every other full batch.
#include <cmath>
#include <gtest/gtest.h>
#include <sstream>

#include "core/cuda_allocator.h"
#include "test_util.h"
#include "train/image_trainer.h"
#include "train/synthetic_images.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

TEST(ImageTrainerGpu, AlexNetOwtTrainsEagerAndWithACudaGraph) {
  CUDANET_REQUIRE_GPU();
  CUDANET_SKIP_SLOW_ON_EMULATOR();
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  testing::TempDir d;
  SyntheticFolderOptions so;
  so.classes = 4;
  so.per_class = 5;  // 20 images: 4 validation, 16 training = 4 full batches of 4
  so.width = 96;
  so.height = 72;
  write_synthetic_imagefolder(d.file("data"), so);
  for (bool graph : {false, true}) {
    if (!graph && cuda::caching_disabled(0)) continue;  // the graph run is eager then anyway
    TrainConfig c;
    c.model = "alexnet-owt";
    c.data = "imagefolder:" + d.file("data");
    c.device = "cuda";
    c.epochs = 2;
    c.batch_size = 4;
    c.validation_size = 4;
    c.workers = 2;
    c.schedule = "constant";
    c.cuda_graph = graph;
    c.quiet = true;
    std::ostringstream out;
    const TrainResult r = run_training(c, out);
    ASSERT_EQ(r.epochs.size(), 2u) << out.str();
    for (const EpochMetrics& m : r.epochs) EXPECT_TRUE(std::isfinite(m.train_loss)) << out.str();
    EXPECT_EQ(r.test.samples, 4);
    EXPECT_NE(out.str().find("GPU memory: peak allocated"), std::string::npos) << out.str();
    if (graph && !cuda::caching_disabled(0)) {  // without caching TrainStep runs eagerly
      // Epoch 1: 3 eager warm-up steps, a capture and its replay; epoch 2 (new learning rate):
      // a capture at its first step and 4 replays.
      EXPECT_NE(out.str().find("CUDA graph: 2 captures, 5 replays"), std::string::npos)
          << out.str();
    }
  }
}

}  // namespace
}  // namespace cudanet::train
