// A small deterministic training run in a temporary directory: synthetic MNIST-format data
// (tests/synthetic_mnist.h), the checkpoint in dir/ckpt and the metrics in dir. The determinism
// and exact-resume tests (CPU and GPU) compare the checkpoint files byte for byte.
#pragma once

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>

#include "synthetic_mnist.h"
#include "train/idx.h"
#include "train/temp_dir.h"
#include "train/trainer.h"

namespace cudanet::testing {

struct ScratchOptions {
  std::string device = "cpu";
  std::string optimizer = "sgd";
  std::int64_t train_images = 400, test_images = 64;  // written to the data directory
  std::int64_t batch_size = 32, train_limit = 256;
  std::uint64_t seed = 11;
};

struct TrainingScratch {
  TempDir dir;
  train::TrainConfig config;

  explicit TrainingScratch(const std::string& model, const ScratchOptions& o = {}) {
    std::filesystem::create_directories(dir.file("data"));
    write_synthetic_mnist(dir.file("data"), o.train_images, o.test_images);
    config.model = model;
    config.optimizer = o.optimizer;
    config.data = "mnist:" + dir.file("data");
    config.epochs = 3;
    config.batch_size = o.batch_size;
    config.train_limit = o.train_limit;
    config.validation_size = 64;
    config.device = o.device;
    config.seed = o.seed;
    config.quiet = true;
    config.deterministic = true;
    config.checkpoint_dir = dir.file("ckpt");
    config.metrics_out = dir.file("metrics.json");
  }
  // The bytes of the run's last checkpoint.
  std::string checkpoint() const {
    return train::read_file_bytes(config.checkpoint_dir + "/last.safetensors");
  }
};

// train::run_training with its output discarded.
inline train::TrainResult run_quietly(const train::TrainConfig& c) {
  std::ostringstream out;
  return train::run_training(c, out);
}

}  // namespace cudanet::testing
