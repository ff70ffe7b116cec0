// The trainer end to end on real Fashion-MNIST (a small slice, on the CPU): the loss falls, the
// metrics and checkpoints are written, and an interrupted run resumed from its checkpoint ends
// with exactly the weights of the uninterrupted run.
#include "train/trainer.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

#include "layers/models.h"
#include "tensor_testing.h"
#include "train/checkpoint.h"
#include "train/fashion_mnist.h"
#include "train/metrics.h"
#include "train/train_step.h"

namespace cudanet::train {
namespace {

namespace fs = std::filesystem;

bool have_fashion_mnist() {
  return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz");
}

#define REQUIRE_FASHION_MNIST()                                                                   \
  if (!have_fashion_mnist()) {                                                                    \
    GTEST_SKIP() << "needs Fashion-MNIST in " << kFashionMnistDir                                 \
                 << " (Debian package dataset-fashion-mnist; tools/install_deps.sh installs it)"; \
  }

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("cudanet_trainer_test_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TrainConfig small_config(const fs::path& dir) {
  TrainConfig c;
  c.model = "mlp";
  c.epochs = 2;
  c.batch_size = 32;
  c.train_limit = 1024;
  c.validation_size = 500;
  c.device = "cpu";
  c.lr = 0.05;
  c.seed = 3;
  c.quiet = true;
  c.checkpoint_dir = (dir / "ckpt").string();
  c.metrics_out = (dir / "metrics.json").string();
  return c;
}

TEST(Trainer, LossFallsAndOutputsAreWritten) {
  REQUIRE_FASHION_MNIST();
  const fs::path dir = scratch("basic");
  std::ostringstream out;
  const TrainResult r = run_training(small_config(dir), out);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_LT(r.epochs[1].train_loss, r.epochs[0].train_loss);
  EXPECT_GT(r.test.accuracy, 0.5) << out.str();  // far above chance (0.1) after 2 small epochs
  EXPECT_EQ(r.test.samples, 10000);
  EXPECT_TRUE(fs::exists(dir / "ckpt" / "last.safetensors"));
  EXPECT_EQ(read_metrics_log((dir / "metrics.jsonl").string()).size(), 2u);
  std::ifstream summary(dir / "metrics.json");
  std::stringstream text;
  text << summary.rdbuf();
  for (const char* key : {"\"model\"", "\"device\"", "\"backend\"", "\"epochs\"",
                          "\"test_accuracy\"", "\"test_loss\"", "\"train_images_per_sec\""}) {
    EXPECT_NE(text.str().find(key), std::string::npos) << key << " missing in " << text.str();
  }
}

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  REQUIRE_FASHION_MNIST();
  const fs::path a = scratch("straight");
  const fs::path b = scratch("resumed");
  std::ostringstream out;
  TrainConfig straight = small_config(a);
  straight.model = "lenet5";
  straight.train_limit = 256;
  const TrainResult ra = run_training(straight, out);

  TrainConfig first = small_config(b);
  first.model = "lenet5";
  first.train_limit = 256;
  first.stop_after = 1;  // interrupted after epoch 1
  run_training(first, out);
  TrainConfig second = first;
  second.stop_after = 0;
  second.resume = true;
  const TrainResult rb = run_training(second, out);
  EXPECT_NE(out.str().find("resumed from"), std::string::npos) << out.str();

  EXPECT_EQ(rb.epochs.size(), 2u);
  EXPECT_EQ(ra.test.loss, rb.test.loss);
  Generator g(0);
  layers::ModelOptions o;
  o.initialize = false;
  auto ma = layers::make_model("lenet5", g, o);
  auto mb = layers::make_model("lenet5", g, o);
  load_checkpoint((a / "ckpt" / "last.safetensors").string(), *ma, nullptr, nullptr, "lenet5");
  load_checkpoint((b / "ckpt" / "last.safetensors").string(), *mb, nullptr, nullptr, "lenet5");
  const auto pa = ma->named_parameters("");
  const auto pb = mb->named_parameters("");
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(testing::all_equal(pb[i].second->value, pa[i].second->value)) << pa[i].first;
  }
}

TEST(Trainer, ANonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint) {
  REQUIRE_FASHION_MNIST();
  const fs::path dir = scratch("nan");
  std::ostringstream out;
  TrainConfig c = small_config(dir);
  c.epochs = 1;
  run_training(c, out);  // a good checkpoint after epoch 1
  const auto good = fs::last_write_time(dir / "ckpt" / "last.safetensors");
  c.epochs = 3;
  c.resume = true;
  c.lr = 1e12;  // diverges at once
  c.momentum = 0;
  try {
    run_training(c, out);
    FAIL() << "expected the run to stop on a non-finite loss";
  } catch (const Error& e) {
    const std::string m = e.message();
    EXPECT_NE(m.find("epoch 2"), std::string::npos) << m;
    EXPECT_NE(m.find("step"), std::string::npos) << m;
    EXPECT_NE(m.find("last.safetensors"), std::string::npos) << m;
  }
  EXPECT_EQ(fs::last_write_time(dir / "ckpt" / "last.safetensors"), good);
  Generator g(0);
  auto m = layers::make_model("mlp", g);
  EXPECT_EQ(
      load_checkpoint((dir / "ckpt" / "last.safetensors").string(), *m, nullptr, nullptr, "mlp")
          .epoch,
      1);
}

TEST(Trainer, RejectsBadConfigurationsAndForeignCheckpoints) {
  REQUIRE_FASHION_MNIST();
  const fs::path dir = scratch("bad");
  std::ostringstream out;
  TrainConfig c = small_config(dir);
  c.epochs = 0;
  EXPECT_THROW(run_training(c, out), ValueError);
  c = small_config(dir);
  c.optimizer = "rmsprop";
  EXPECT_THROW(run_training(c, out), ValueError);
  c = small_config(dir);
  c.model = "alexnet";  // 227×227×3 inputs: not Fashion-MNIST's
  EXPECT_THROW(run_training(c, out), ValueError);
  c = small_config(dir);
  c.data = "fashion-mnist:/nonexistent/dir";
  EXPECT_THROW(run_training(c, out), IoError);
  // A CUDA graph replays SGD steps with nothing read on the host (checked before any data loads).
  c = small_config(dir);
  c.cuda_graph = true;
  c.optimizer = "adam";
  EXPECT_THROW(run_training(c, out), ValueError);
  c.optimizer = "sgd";
  c.clip_grad_norm = 1;
  EXPECT_THROW(run_training(c, out), ValueError);
  c.clip_grad_norm = 0;
  c.detect_anomaly = true;
  EXPECT_THROW(run_training(c, out), ValueError);
  // TrainStep checks the same on its own (the C++ and Python APIs build it directly).
  {
    Generator g(1);
    auto model = layers::make_model("lenet5", g);
    TrainConfig adam = small_config(dir);
    adam.optimizer = "adam";
    auto optimizer = make_optimizer(adam, model->named_parameters(""));
    EXPECT_THROW(TrainStep(*model, *optimizer, {true}), ValueError);
    EXPECT_NO_THROW(TrainStep(*model, *optimizer, {false}));
  }
  // The JPEG pipeline's options are not for Fashion-MNIST.
  c = small_config(dir);
  c.val_data = "imagefolder:/tmp";
  EXPECT_THROW(run_training(c, out), ValueError);
  c = small_config(dir);
  c.workers = 4;
  EXPECT_THROW(run_training(c, out), ValueError);
  // Early stopping needs a validation set.
  c = small_config(dir);
  c.patience = 2;
  c.validation_size = 0;
  EXPECT_THROW(run_training(c, out), ValueError);
  // A checkpoint of one model does not load into another.
  c = small_config(dir);
  c.epochs = 1;
  run_training(c, out);
  Generator g(0);
  auto lenet = layers::make_model("lenet5", g);
  EXPECT_THROW(
      load_checkpoint(c.checkpoint_dir + "/last.safetensors", *lenet, nullptr, nullptr, "lenet5"),
      ValueError);
  EXPECT_THROW(
      load_checkpoint(c.checkpoint_dir + "/last.safetensors", *lenet, nullptr, nullptr, ""),
      ValueError);
}

}  // namespace
}  // namespace cudanet::train
