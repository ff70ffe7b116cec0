// Crash safety: `cudanet train` killed with SIGKILL at random moments, many times over. After
// every kill the latest checkpoint loads, the next `--resume` run goes on from it, and the run
// that finally completes ends with exactly the weights and optimizer state of a run that was never
// interrupted (--deterministic). Bounded to about a minute.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <gtest/gtest.h>
#include <random>
#include <thread>

#include "layers/models.h"
#include "subprocess.h"
#include "synthetic_mnist.h"
#include "train/checkpoint.h"
#include "train/idx.h"
#include "train/metrics.h"
#include "train/temp_dir.h"

namespace cudanet::tools {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::TempDir;

constexpr int kEpochs = 40;

std::vector<std::string> train_args(const std::string& data, const std::string& dir) {
  return {"train",
          "--model",
          "mlp",
          "--data",
          "mnist:" + data,
          "--epochs",
          std::to_string(kEpochs),
          "--batch-size",
          "32",
          "--train-limit",
          "192",
          "--validation-size",
          "64",
          "--device",
          "cpu",
          "--seed",
          "9",
          "--deterministic",
          "--checkpoint-dir",
          dir,
          "--metrics-out",
          dir + "/metrics.json",
          "--resume"};
}

// The epoch of the checkpoint in `dir` (0 when there is none yet); fails the test when it does
// not load completely.
std::int64_t checkpoint_epoch(const std::string& dir) {
  const std::string path = dir + "/last.safetensors";
  if (!fs::exists(path)) return 0;
  Generator g(0);
  layers::ModelOptions o;
  o.initialize = false;
  auto model = layers::make_model("mlp", g, o);
  try {
    return train::load_checkpoint(path, *model, nullptr, nullptr, "mlp").epoch;
  } catch (const Error& e) {
    ADD_FAILURE() << "the checkpoint does not load after a kill: " << e.what();
    return -1;
  }
}

std::size_t temporary_files(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += e.path().filename().string().find(".tmp.") != std::string::npos;
  }
  return n;
}

TEST(CrashSafety, KilledAtRandomMomentsTheRunResumesAndEndsExactlyAsAnUninterruptedOne) {
  TempDir root;
  const std::string data = root.file("data");
  fs::create_directories(data);
  testing::write_synthetic_mnist(data, 300, 64);

  // The uninterrupted run, and a one-epoch run, timed to choose the kill moments: a killed run
  // lives for up to its start-up plus two epochs, so the kills land everywhere -- while loading,
  // training, evaluating and writing the checkpoint -- and the run creeps forward.
  const std::string reference = root.file("reference");
  std::string out;
  const auto timed = [&](const std::vector<std::string>& args, const std::string& log) {
    const auto t0 = Clock::now();
    EXPECT_EQ(testing::run_cli(args, log, &out), 0) << out;
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  const double run_ms = timed(train_args(data, reference), root.file("reference.log"));
  std::vector<std::string> one_epoch = train_args(data, root.file("one"));
  one_epoch[6] = "1";  // --epochs
  const double first_ms = timed(one_epoch, root.file("one.log"));
  ASSERT_FALSE(HasFailure());
  const double epoch_ms = std::max(1.0, (run_ms - first_ms) / (kEpochs - 1));

  const std::string dir = root.file("killed");
  const std::uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  const double startup_ms = std::max(0.0, first_ms - epoch_ms);
  // One kill in five during start-up, the others within the next two epochs.
  const auto delay = [&] {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return u < 0.2 ? u * 5 * startup_ms : startup_ms + (u - 0.2) / 0.8 * 2 * epoch_ms;
  };
  SCOPED_TRACE("kill-moment seed " + std::to_string(seed) + ", uninterrupted run " +
               std::to_string(static_cast<int>(run_ms)) + " ms, first epoch " +
               std::to_string(static_cast<int>(first_ms)) + " ms");

  // Kill, check, resume -- until 40 kills or a minute. A run that outlives its delay and
  // completes must equal the reference; the next one starts from scratch.
  const std::string reference_bytes = train::read_file_bytes(reference + "/last.safetensors");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  int kills = 0, completed = 0, progressed = 0;
  std::int64_t epoch = 0;
  while (Clock::now() < deadline && kills < 40) {
    testing::CliProcess p(train_args(data, dir), root.file("killed.log"));
    ASSERT_TRUE(p.started());
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay()));
    if (p.finished()) {
      const int status = p.wait();
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a resumed run failed:\n"
                                                                 << p.output();
      ASSERT_EQ(checkpoint_epoch(dir), kEpochs);
      EXPECT_EQ(train::read_file_bytes(dir + "/last.safetensors"), reference_bytes)
          << "resumed training did not end bitwise equal to the uninterrupted run";
      ++completed;
      fs::remove_all(dir);
      epoch = 0;
      continue;
    }
    p.kill_now();
    p.wait();
    ++kills;
    const std::int64_t now = checkpoint_epoch(dir);
    ASSERT_GE(now, epoch) << "the checkpoint went back in time";
    progressed += now > epoch;
    epoch = now;
    if (fs::exists(dir)) {
      EXPECT_LE(temporary_files(dir), 1u);  // the kill's, removed on resume
    }
  }
  EXPECT_GE(kills, 10) << "too few kills to mean anything";
  EXPECT_GE(progressed, 3) << "the kills came too early to test resuming";
  std::cout << "[ crash    ] " << kills << " kills (" << progressed << " after a new checkpoint), "
            << completed << " resumed runs completed and matched; the final run starts at epoch "
            << epoch << " of " << kEpochs << "\n";

  // The final run completes from wherever the kills left it.
  ASSERT_EQ(testing::run_cli(train_args(data, dir), root.file("final.log"), &out), 0) << out;
  EXPECT_EQ(checkpoint_epoch(dir), kEpochs);
  EXPECT_EQ(temporary_files(dir), 0u);
  EXPECT_EQ(train::read_file_bytes(dir + "/last.safetensors"),
            train::read_file_bytes(reference + "/last.safetensors"))
      << "resumed training did not end bitwise equal to the uninterrupted run";
  const std::vector<train::EpochMetrics> log = train::read_metrics_log(dir + "/metrics.jsonl");
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kEpochs));
  for (int i = 0; i < kEpochs; ++i) EXPECT_EQ(log[static_cast<std::size_t>(i)].epoch, i + 1);
}

}  // namespace
}  // namespace cudanet::tools
