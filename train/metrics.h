// Metrics of a training run: a JSON-lines log with one object per epoch, and a final summary.
//
//   {"epoch":1,"train_loss":0.52,"train_accuracy":0.81,"val_loss":0.41,"val_accuracy":0.85,
//    "lr":0.01,"images_per_sec":15234.5,"seconds":3.9}
//
// Note: each line is flushed as soon as it is written, so a killed run keeps every finished
// epoch. Non-finite numbers, which JSON cannot hold, are written as null (and read back as NaN).
// The summary is written atomically (train/atomic_file.h).
#pragma once

#include <cstdint>
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cudanet::train {

struct EpochMetrics {
  std::int64_t epoch = 0;
  double train_loss = 0;
  double train_accuracy = 0;  // fraction in [0, 1]
  double val_loss = 0;
  double val_accuracy = 0;
  double lr = 0;
  double images_per_sec = 0;  // training throughput of the epoch
  double seconds = 0;         // wall time of the epoch (training and evaluation)
};

// One JSON object, no newline.
std::string to_json(const EpochMetrics& m);
// Parses a line written by to_json; throws IoError naming `where` for malformed input.
EpochMetrics parse_epoch_metrics(const std::string& line, const std::string& where = "<line>");

class MetricsLog {
 public:
  // Opens `path` for writing (truncated, or appended to when resuming a run). Throws IoError.
  explicit MetricsLog(const std::string& path, bool append = false);
  // Writes to a stream the caller owns (e.g. for tests).
  explicit MetricsLog(std::ostream& out);
  ~MetricsLog();

  // Writes one line and flushes it; throws IoError when the write fails.
  void write(const EpochMetrics& m);
  const std::vector<EpochMetrics>& history() const { return history_; }

 private:
  std::unique_ptr<std::ofstream> file_;
  std::ostream* out_;
  std::string name_;
  std::vector<EpochMetrics> history_;
};

// Reads a JSON-lines metrics log (blank lines are skipped); throws IoError naming the file and
// line of a malformed entry.
std::vector<EpochMetrics> read_metrics_log(const std::string& path);

// For a resumed run: keeps the entries of the log at `path` up to epoch `last_epoch`, rewriting
// the file atomically so that a kill at any moment leaves the old or the new log. A log that
// cannot be read (cut short by a crash, say) is emptied and `problem` says why. Returns the
// entries kept (none when the file does not exist or `last_epoch` is 0).
std::vector<EpochMetrics> truncate_metrics_log(const std::string& path, std::int64_t last_epoch,
                                               std::string* problem);

// The median of images_per_sec over the epochs after the first (over all of them when there is
// only one); 0 for no epochs. The first epoch carries warm-up costs.
double median_images_per_sec(const std::vector<EpochMetrics>& epochs);

// A flat JSON object built key by key, in insertion order (setting a key again replaces its
// value), for the final summary of a run.
class JsonSummary {
 public:
  JsonSummary& set(const std::string& key, const std::string& value);
  JsonSummary& set(const std::string& key, const char* value);
  JsonSummary& set(const std::string& key, double value);
  JsonSummary& set(const std::string& key, std::int64_t value);
  JsonSummary& set(const std::string& key, int value) {
    return set(key, static_cast<std::int64_t>(value));
  }
  JsonSummary& set(const std::string& key, bool value);
  JsonSummary& set(const std::string& key, const std::vector<double>& values);
  // Every epoch's metrics as an array of objects.
  JsonSummary& set(const std::string& key, const std::vector<EpochMetrics>& epochs);

  // The object as JSON text (indented by 2 spaces when indent is true), ending in a newline.
  std::string dump(bool indent = true) const;
  // Writes dump() to `path` atomically. Throws IoError.
  void write(const std::string& path) const;

 private:
  JsonSummary& set_encoded(const std::string& key, std::string json);
  std::vector<std::pair<std::string, std::string>> fields_;  // key, encoded JSON value
};

}  // namespace cudanet::train
