#include "train/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "train/atomic_file.h"

namespace cudanet::train {

namespace {

using Json = nlohmann::ordered_json;

// The fields of EpochMetrics after "epoch", in the order they are written.
struct Field {
  const char* name;
  double EpochMetrics::*member;
};
constexpr Field kFields[] = {
    {"train_loss", &EpochMetrics::train_loss},
    {"train_accuracy", &EpochMetrics::train_accuracy},
    {"val_loss", &EpochMetrics::val_loss},
    {"val_accuracy", &EpochMetrics::val_accuracy},
    {"lr", &EpochMetrics::lr},
    {"images_per_sec", &EpochMetrics::images_per_sec},
    {"seconds", &EpochMetrics::seconds},
};

Json number(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json to_object(const EpochMetrics& m) {
  Json j = Json::object();
  j["epoch"] = m.epoch;
  for (const Field& f : kFields) j[f.name] = number(m.*(f.member));
  return j;
}

}  // namespace

std::string to_json(const EpochMetrics& m) {
  return to_object(m).dump();
}

EpochMetrics parse_epoch_metrics(const std::string& line, const std::string& where) {
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Json::exception& e) {
    CUDANET_THROW(IoError, where, ": not a JSON object: ", e.what());
  }
  CUDANET_CHECK(j.is_object(), IoError, where, ": not a JSON object");
  EpochMetrics m;
  CUDANET_CHECK(j.contains("epoch") && j["epoch"].is_number_integer(), IoError, where,
                ": no integer \"epoch\"");
  m.epoch = j["epoch"].get<std::int64_t>();
  for (const Field& f : kFields) {
    CUDANET_CHECK(j.contains(f.name), IoError, where, ": no \"", f.name, "\"");
    const Json& v = j[f.name];
    CUDANET_CHECK(v.is_number() || v.is_null(), IoError, where, ": \"", f.name,
                  "\" is not a number");
    m.*(f.member) = v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  }
  return m;
}

MetricsLog::MetricsLog(const std::string& path, bool append)
    : file_(std::make_unique<std::ofstream>(
          path, append ? std::ios::out | std::ios::app : std::ios::out | std::ios::trunc)),
      out_(file_.get()),
      name_(path) {
  CUDANET_CHECK(file_->is_open(), IoError, "cannot open the metrics log ", path, ": ",
                std::strerror(errno));
}

MetricsLog::MetricsLog(std::ostream& out) : out_(&out), name_("<stream>") {}

MetricsLog::~MetricsLog() = default;

void MetricsLog::write(const EpochMetrics& m) {
  *out_ << to_json(m) << '\n';
  out_->flush();
  CUDANET_CHECK(out_->good(), IoError, "cannot write the metrics log ", name_);
  history_.push_back(m);
}

std::vector<EpochMetrics> read_metrics_log(const std::string& path) {
  std::ifstream in(path);
  CUDANET_CHECK(in.is_open(), IoError, "cannot open the metrics log ", path, ": ",
                std::strerror(errno));
  std::vector<EpochMetrics> out;
  std::string line;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parse_epoch_metrics(line, path + ":" + std::to_string(number)));
  }
  return out;
}

std::vector<EpochMetrics> truncate_metrics_log(const std::string& path, std::int64_t last_epoch,
                                               std::string* problem) {
  std::vector<EpochMetrics> kept;
  if (last_epoch <= 0 || !std::filesystem::exists(path)) return kept;
  try {
    for (const EpochMetrics& m : read_metrics_log(path)) {
      if (m.epoch <= last_epoch) kept.push_back(m);
    }
  } catch (const IoError& e) {
    if (problem != nullptr) *problem = e.message();
    kept.clear();
  }
  std::ostringstream text;
  MetricsLog writer(text);
  for (const EpochMetrics& m : kept) writer.write(m);
  write_file_atomic(path, text.str());
  return kept;
}

double median_images_per_sec(const std::vector<EpochMetrics>& epochs) {
  if (epochs.empty()) return 0.0;
  std::vector<double> v;
  for (std::size_t i = epochs.size() > 1 ? 1 : 0; i < epochs.size(); ++i) {
    v.push_back(epochs[i].images_per_sec);
  }
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

JsonSummary& JsonSummary::set_encoded(const std::string& key, std::string json) {
  for (auto& field : fields_) {
    if (field.first == key) {
      field.second = std::move(json);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(json));
  return *this;
}

JsonSummary& JsonSummary::set(const std::string& key, const std::string& value) {
  try {
    return set_encoded(key, Json(value).dump());
  } catch (const Json::exception& e) {
    CUDANET_THROW(ValueError, "summary field \"", key, "\" is not valid UTF-8: ", e.what());
  }
}

JsonSummary& JsonSummary::set(const std::string& key, const char* value) {
  return set(key, std::string(value));
}

JsonSummary& JsonSummary::set(const std::string& key, double value) {
  return set_encoded(key, number(value).dump());
}

JsonSummary& JsonSummary::set(const std::string& key, std::int64_t value) {
  return set_encoded(key, Json(value).dump());
}

JsonSummary& JsonSummary::set(const std::string& key, bool value) {
  return set_encoded(key, Json(value).dump());
}

JsonSummary& JsonSummary::set(const std::string& key, const std::vector<double>& values) {
  Json a = Json::array();
  for (double v : values) a.push_back(number(v));
  return set_encoded(key, a.dump());
}

JsonSummary& JsonSummary::set(const std::string& key, const std::vector<EpochMetrics>& epochs) {
  Json a = Json::array();
  for (const EpochMetrics& m : epochs) a.push_back(to_object(m));
  return set_encoded(key, a.dump());
}

std::string JsonSummary::dump(bool indent) const {
  Json j = Json::object();
  for (const auto& [key, value] : fields_) j[key] = Json::parse(value);
  try {
    return j.dump(indent ? 2 : -1) + "\n";
  } catch (const Json::exception& e) {
    CUDANET_THROW(ValueError, "summary keys must be valid UTF-8: ", e.what());
  }
}

void JsonSummary::write(const std::string& path) const {
  write_file_atomic(path, dump());
}

}  // namespace cudanet::train
