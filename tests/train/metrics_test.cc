// Metrics: JSON lines per epoch (flushed each line), reading them back, and the summary file.
#include "train/metrics.h"

#include <cmath>
#include <filesystem>
#include <gtest/gtest.h>
#include <sstream>

#include "core/error.h"
#include "train/idx.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

using cudanet::testing::TempDir;

EpochMetrics sample(std::int64_t epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = 0.5 / static_cast<double>(epoch);
  m.train_accuracy = 0.8;
  m.val_loss = 0.45;
  m.val_accuracy = 0.825;
  m.lr = 0.01;
  m.images_per_sec = 1000.0 * static_cast<double>(epoch);
  m.seconds = 2.5;
  return m;
}

TEST(Metrics, WritesOneFlushedJsonObjectPerLine) {
  std::ostringstream out;
  MetricsLog log(out);
  log.write(sample(1));
  EXPECT_EQ(out.str(), R"({"epoch":1,"train_loss":0.5,"train_accuracy":0.8,"val_loss":0.45,)"
                       R"("val_accuracy":0.825,"lr":0.01,"images_per_sec":1000.0,"seconds":2.5})"
                       "\n");
  log.write(sample(2));
  EXPECT_EQ(log.history().size(), 2u);
}

TEST(Metrics, FileLogRoundTripsAndAppends) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  {
    MetricsLog log(path);
    log.write(sample(1));
    // Flushed: readable while the log is still open.
    EXPECT_EQ(read_metrics_log(path).size(), 1u);
    EpochMetrics nan = sample(2);
    nan.val_loss = std::nan("");
    log.write(nan);
  }
  {
    MetricsLog resumed(path, /*append=*/true);
    resumed.write(sample(3));
  }
  const auto epochs = read_metrics_log(path);
  ASSERT_EQ(epochs.size(), 3u);
  EXPECT_EQ(epochs[0].train_loss, 0.5);
  EXPECT_TRUE(std::isnan(epochs[1].val_loss));  // written as null
  EXPECT_EQ(epochs[2].epoch, 3);
  EXPECT_EQ(epochs[2].train_loss, 0.5 / 3.0);  // doubles round-trip exactly

  dir.write("bad.jsonl", to_json(sample(1)) + "\n\n{\"epoch\":2}\n");
  try {
    read_metrics_log(dir.file("bad.jsonl"));
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(e.message().find("bad.jsonl:3"), std::string::npos) << e.message();
  }
  EXPECT_THROW(MetricsLog(dir.file("no/such/dir/m.jsonl")), IoError);
}

TEST(Metrics, TruncatingForAResumedRunKeepsTheEpochsUpToTheCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::string problem;
  EXPECT_TRUE(truncate_metrics_log(path, 3, &problem).empty());  // no log yet
  EXPECT_FALSE(std::filesystem::exists(path));
  dir.write("metrics.jsonl",
            to_json(sample(1)) + "\n" + to_json(sample(2)) + "\n" + to_json(sample(3)) + "\n");
  const std::vector<EpochMetrics> kept = truncate_metrics_log(path, 2, &problem);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].train_loss, 0.25);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(read_metrics_log(path).size(), 2u);  // the file says the same
  // A log cut short by a crash is started afresh, saying why.
  dir.write("metrics.jsonl", to_json(sample(1)) + "\n{\"epoch\":2,\"tra");
  EXPECT_TRUE(truncate_metrics_log(path, 2, &problem).empty());
  EXPECT_NE(problem.find("metrics.jsonl:2"), std::string::npos) << problem;
  EXPECT_TRUE(read_metrics_log(path).empty());
}

TEST(Metrics, MedianThroughputSkipsTheFirstEpoch) {
  EXPECT_EQ(median_images_per_sec({}), 0.0);
  EXPECT_EQ(median_images_per_sec({sample(1)}), 1000.0);
  EXPECT_EQ(median_images_per_sec({sample(9), sample(2), sample(4)}), 3000.0);
  EXPECT_EQ(median_images_per_sec({sample(9), sample(2), sample(4), sample(3)}), 3000.0);
}

TEST(Metrics, SummaryIsJsonWrittenAtomically) {
  TempDir dir;
  JsonSummary s;
  s.set("model", "lenet5")
      .set("epochs", 10)
      .set("test_accuracy", 0.91)
      .set("deterministic", true)
      .set("loss_curve", std::vector<double>{1.0, 0.5, std::nan("")})
      .set("history", std::vector<EpochMetrics>{sample(1)})
      .set("model", "mlp");  // replaces, keeps the position
  const std::string path = dir.file("summary.json");
  s.write(path);
  const std::string compact = s.dump(false);
  EXPECT_EQ(compact, R"({"model":"mlp","epochs":10,"test_accuracy":0.91,"deterministic":true,)"
                     R"("loss_curve":[1.0,0.5,null],"history":[{"epoch":1,"train_loss":0.5,)"
                     R"("train_accuracy":0.8,"val_loss":0.45,"val_accuracy":0.825,"lr":0.01,)"
                     R"("images_per_sec":1000.0,"seconds":2.5}]})"
                     "\n");
  const std::string text = read_file_bytes(path);
  EXPECT_EQ(text, s.dump());
  EXPECT_EQ(text.rfind("{\n  \"model\": \"mlp\",\n  \"epochs\": 10,", 0), 0u) << text;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

}  // namespace
}  // namespace cudanet::train
