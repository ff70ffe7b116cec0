// Training on JPEG data sets: top-k counting, the AlexNet recipe defaults, configuration errors,
// and a CPU smoke test of alexnet-owt on a tiny synthetic ImageFolder (a few steps), with a
// checkpoint and an exact resume.
#include "train/image_trainer.h"

#include <filesystem>
#include <gtest/gtest.h>
#include <sstream>

#include "core/error.h"
#include "temp_dir.h"
#include "train/anomaly.h"
#include "train/checkpoint.h"
#include "train/jpeg.h"
#include "train/metrics.h"
#include "train/synthetic_images.h"

namespace cudanet::train {
namespace {

using testing::TempDir;

TEST(ImageTrainer, CountsTop1AndTop5) {
  // Row 0: label 2 is the best; row 1: label 0 is 3rd; row 2: label 1 is last of 7.
  const Tensor logits = Tensor::from_vector<float>({0, 1,  9, 2, 3, 4, 5,  //
                                                    5, 9,  1, 8, 0, 0, 0,  //
                                                    7, -1, 6, 5, 4, 3, 2},
                                                   {3, 7});
  const TopK k = count_topk(logits, Tensor::from_vector<std::int64_t>({2, 0, 1}, {3}));
  EXPECT_EQ(k.top1, 1);
  EXPECT_EQ(k.top5, 2);
  EXPECT_THROW(count_topk(logits, Tensor::from_vector<std::int64_t>({0}, {1})), ShapeError);
}

TEST(ImageTrainer, AlexNetRecipeIsTheDefaultSchedule) {
  EXPECT_EQ(default_schedule("alexnet", 90), "multistep:30,60:0.1");
  EXPECT_EQ(default_schedule("alexnet-owt", 3), "multistep:1,2:0.1");
  EXPECT_EQ(default_schedule("lenet5", 90), "cosine");
  EXPECT_TRUE(is_alexnet("alexnet-owt"));
  EXPECT_FALSE(is_alexnet("mlp"));
}

TEST(ImageTrainer, RejectsModelsThatCannotTakeImagesAndMissingFolders) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  TempDir d;
  TrainConfig c;
  c.device = "cpu";
  c.quiet = true;
  c.data = "imagefolder:" + d.file("missing");
  c.model = "alexnet";
  std::ostringstream out;
  EXPECT_THROW(run_training(c, out), IoError);
  c.model = "lenet5";
  EXPECT_THROW(run_training(c, out), ValueError);
  c.model = "alexnet";
  c.data = "imagefolder:" + d.path();  // exists, but empty
  EXPECT_THROW(run_training(c, out), ValueError);
}

TEST(ImageTrainer, AlexNetOwtSmokeTestOnTheCpuWithCheckpointAndResume) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  TempDir d;
  SyntheticFolderOptions so;
  so.classes = 3;
  so.per_class = 2;
  so.width = 80;  // smaller than 224: the loader resizes the shorter side to 256 first
  so.height = 60;
  write_synthetic_imagefolder(d.file("data"), so);

  TrainConfig c;
  c.model = "alexnet-owt";
  c.data = "imagefolder:" + d.file("data");
  c.device = "cpu";
  c.epochs = 2;
  c.stop_after = 1;
  c.batch_size = 2;
  c.validation_size = 1;  // 5 training images: batches of 2, 2, 1
  c.workers = 2;
  c.schedule = default_schedule(c.model, c.epochs);
  c.checkpoint_dir = d.file("ck");
  c.metrics_out = d.file("m/summary.json");
  c.quiet = true;
  std::ostringstream out;
  const TrainResult first = run_training(c, out);
  ASSERT_EQ(first.epochs.size(), 1u) << out.str();
  EXPECT_TRUE(std::isfinite(first.epochs[0].train_loss));
  EXPECT_GT(first.epochs[0].train_loss, 0);
  EXPECT_EQ(first.test.samples, 1);
  EXPECT_GE(first.test.top5, first.test.accuracy);
  EXPECT_DOUBLE_EQ(first.epochs[0].lr, 0.01);  // the AlexNet recipe's learning rate
  EXPECT_TRUE(std::filesystem::exists(d.file("ck/last.safetensors")));
  EXPECT_NE(out.str().find("top-5"), std::string::npos) << out.str();

  c.resume = true;
  c.stop_after = 0;
  std::ostringstream out2;
  const TrainResult second = run_training(c, out2);
  EXPECT_NE(out2.str().find("resumed from"), std::string::npos) << out2.str();
  ASSERT_EQ(second.epochs.size(), 2u);
  EXPECT_EQ(second.epochs[0].train_loss, first.epochs[0].train_loss);  // from the log
  EXPECT_DOUBLE_EQ(second.epochs[1].lr, 0.001);  // divided by 10 after a third of the epochs
  EXPECT_EQ(read_metrics_log(d.file("m/summary.jsonl")).size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(d.file("m/summary.json")));
}

// An ImageFolder of 2 classes x 2 images (64 x 64) in d, and a quiet one-epoch alexnet-owt run on
// it on the CPU: batches of 2, one image held out, a constant learning rate without momentum or
// weight decay.
TrainConfig tiny_alexnet_owt(TempDir& d) {
  SyntheticFolderOptions so;
  so.classes = 2;
  so.per_class = 2;
  so.width = so.height = 64;
  write_synthetic_imagefolder(d.file("data"), so);
  TrainConfig c;
  c.model = "alexnet-owt";
  c.data = "imagefolder:" + d.file("data");
  c.device = "cpu";
  c.epochs = 1;
  c.batch_size = 2;
  c.validation_size = 1;
  c.workers = 1;
  c.schedule = "constant";
  c.momentum = 0;
  c.weight_decay = 0;
  c.quiet = true;
  return c;
}

// The options the in-memory trainer has work on JPEG data too: --patience stops when validation
// top-1 stops improving (here it cannot: a learning rate of 1e-30), --layer-backends is applied
// (an unknown layer is an error), and without a validation set the output says so (and
// --patience, which needs one, is refused).
TEST(ImageTrainer, EarlyStoppingLayerBackendsAndNoValidationSet) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  TempDir d;
  TrainConfig c = tiny_alexnet_owt(d);
  c.epochs = 4;
  c.lr = 1e-30;
  c.patience = 1;
  std::ostringstream out;
  const TrainResult r = run_training(c, out);
  EXPECT_TRUE(r.stopped_early) << out.str();
  EXPECT_EQ(r.epochs.size(), 2u) << "epoch 2 did not improve on epoch 1";

  c.layer_backends = "no_such_layer=native";
  EXPECT_THROW(run_training(c, out), ValueError);

  c.layer_backends = "";
  c.validation_size = 0;
  EXPECT_THROW(run_training(c, out), ValueError);  // --patience without a validation set
  c.patience = 0;
  c.epochs = 1;
  std::ostringstream none;
  const TrainResult nv = run_training(c, none);
  EXPECT_EQ(nv.test.samples, 0);
  EXPECT_NE(none.str().find("no validation set"), std::string::npos) << none.str();
}

TEST(ImageTrainer, DetectAnomalyNamesTheFirstNonFiniteTensor) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  TempDir d;
  TrainConfig c = tiny_alexnet_owt(d);
  c.lr = 1e38;  // the weights overflow float32 within the first steps
  c.detect_anomaly = true;
  std::ostringstream out;
  try {
    run_training(c, out);
    FAIL() << "no NonFiniteError; output:\n" << out.str();
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.epoch(), 1);
    EXPECT_GE(e.step(), 1);  // 3 training images: steps of 2 and 1
    EXPECT_LE(e.step(), 2);
    EXPECT_FALSE(e.layer().empty()) << e.message();
    EXPECT_NE(e.message().find(e.layer()), std::string::npos) << e.message();
  }

  c.cuda_graph = true;  // graphs cannot check values on the host: a configuration error
  EXPECT_THROW(run_training(c, out), ValueError);
}

}  // namespace
}  // namespace cudanet::train
