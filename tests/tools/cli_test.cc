// The cudanet program's command line: parse-only validation (what the fuzzer drives), exit codes
// and messages of the real program, and --detect-anomaly ending a run with the layer's name.
#include "tools/cli.h"

#include <cstdio>
#include <filesystem>
#include <gtest/gtest.h>
#include <limits>

#include "subprocess.h"
#include "synthetic_mnist.h"
#include "train/safetensors.h"
#include "train/temp_dir.h"

namespace cudanet::tools {
namespace {

using testing::TempDir;

int parse_only(const std::vector<std::string>& args) {
  std::FILE* sink = std::fopen("/dev/null", "w");
  const int code = run_cli(args, /*parse_only=*/true, sink);
  std::fclose(sink);
  return code;
}

TEST(Cli, ParseOnlyValidatesEveryCommandWithoutRunningIt) {
  EXPECT_EQ(parse_only({}), 2);
  EXPECT_EQ(parse_only({"frobnicate"}), 2);
  EXPECT_EQ(parse_only({"train"}), 0);
  EXPECT_EQ(parse_only({"train", "--model", "alexnet", "--epochs", "90", "--schedule",
                        "multistep:30,60:0.1+warmup:2", "--device", "cuda:3", "--deterministic",
                        "--detect-anomaly"}),
            0);  // valid, and nothing is trained (no data, no GPU needed)
  EXPECT_EQ(parse_only({"train", "--epochs", "3x"}), 2);
  EXPECT_EQ(parse_only({"train", "--epochs"}), 2);
  EXPECT_EQ(parse_only({"train", "--model", "resnet"}), 2);
  EXPECT_EQ(parse_only({"train", "--schedule", "step:0"}), 2);
  EXPECT_EQ(parse_only({"train", "--schedule", "cosine:x"}), 2);
  EXPECT_EQ(parse_only({"train", "--data", "imagenet"}), 2);
  EXPECT_EQ(parse_only({"train", "--device", "tpu"}), 2);
  EXPECT_EQ(parse_only({"train", "--optimizer", "rmsprop"}), 2);
  EXPECT_EQ(parse_only({"train", "--batch-size", "0"}), 2);
  EXPECT_EQ(parse_only({"train", "--resume"}), 2);  // needs --checkpoint-dir
  EXPECT_EQ(parse_only({"train", "--seed", "-1"}), 2);
  EXPECT_EQ(parse_only({"eval"}), 2);  // needs --checkpoint
  EXPECT_EQ(parse_only({"eval", "--checkpoint", "x", "--batch-size", "-4"}), 2);
  EXPECT_EQ(parse_only({"eval", "--checkpoint", "x", "--model", "mlp"}), 0);
  EXPECT_EQ(parse_only({"summary", "--model", "lenet5"}), 0);
  EXPECT_EQ(parse_only({"summary", "--model", "lenet6"}), 2);
  EXPECT_EQ(parse_only({"info"}), 0);
  EXPECT_EQ(parse_only({"info", "x"}), 1);
  EXPECT_EQ(parse_only({"demo", "--n", "0"}), 1);
}

TEST(Cli, TheProgramReportsUsageErrorsWithExitCode2) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(testing::run_cli({}, dir.file("log"), &out), 2);
  EXPECT_NE(out.find("usage: cudanet <command>"), std::string::npos) << out;
  EXPECT_EQ(testing::run_cli({"train", "--epochs", "x"}, dir.file("log"), &out), 2);
  EXPECT_NE(out.find("--epochs expects an integer, got 'x'"), std::string::npos) << out;
  EXPECT_EQ(testing::run_cli({"train", "--help"}, dir.file("log"), &out), 0);
  EXPECT_NE(out.find("--detect-anomaly"), std::string::npos) << out;
  EXPECT_NE(out.find("--deterministic"), std::string::npos) << out;
}

TEST(Cli, DetectAnomalyEndsTheRunWithTheLayerStepAndTensor) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  testing::write_synthetic_mnist(dir.file("data"), 300, 50);
  const std::vector<std::string> common = {"train",
                                           "--model",
                                           "mlp",
                                           "--data",
                                           "mnist:" + dir.file("data"),
                                           "--epochs",
                                           "3",
                                           "--batch-size",
                                           "32",
                                           "--validation-size",
                                           "50",
                                           "--device",
                                           "cpu",
                                           "--checkpoint-dir",
                                           dir.file("ckpt")};
  std::vector<std::string> first = common;
  first.insert(first.end(), {"--stop-after", "1"});
  std::string out;
  ASSERT_EQ(testing::run_cli(first, dir.file("log"), &out), 0) << out;

  const std::string path = dir.file("ckpt/last.safetensors");
  train::SafetensorsContents contents = train::load_safetensors(path);
  for (auto& [name, t] : contents.tensors) {
    if (name == "fc2.bias") {
      static_cast<float*>(t.data_ptr())[3] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  train::save_safetensors(path, contents.tensors, contents.metadata);

  std::vector<std::string> resumed = common;
  resumed.insert(resumed.end(), {"--resume", "--detect-anomaly"});
  EXPECT_EQ(testing::run_cli(resumed, dir.file("log"), &out), 1) << out;
  EXPECT_NE(out.find("anomaly detected at epoch 2 step 1: the output of layer 'fc2'"),
            std::string::npos)
      << out;
  resumed.pop_back();  // without detection: the loss
  EXPECT_EQ(testing::run_cli(resumed, dir.file("log"), &out), 1) << out;
  EXPECT_NE(out.find("at epoch 2 step 1; the last good checkpoint is"), std::string::npos) << out;
}

}  // namespace
}  // namespace cudanet::tools
