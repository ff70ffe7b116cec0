#include "train/progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <unistd.h>

#include "core/error.h"

namespace cudanet::train {

ProgressOptions ProgressOptions::for_stdout() {
  ProgressOptions o;
  o.is_terminal = ::isatty(STDOUT_FILENO) == 1;
  return o;
}

ProgressClock steady_progress_clock() {
  return [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  char buf[48];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", m, s);
  }
  return buf;
}

ProgressReporter::ProgressReporter(std::ostream& out, ProgressOptions options, ProgressClock clock)
    : out_(out), options_(options), clock_(std::move(clock)) {
  CUDANET_CHECK(options_.redraw_seconds >= 0 && options_.plain_interval_seconds > 0 &&
                    options_.plain_interval_fraction > 0 && options_.bar_width >= 1,
                ValueError, "ProgressReporter: intervals and bar width must be positive");
  CUDANET_CHECK(static_cast<bool>(clock_), ValueError, "ProgressReporter: no clock");
}

void ProgressReporter::start_epoch(std::int64_t epoch, std::int64_t num_epochs,
                                   std::int64_t total_steps) {
  CUDANET_CHECK(total_steps >= 0, ValueError, "ProgressReporter: negative step count ",
                total_steps);
  if (line_open_) end_epoch();
  epoch_ = epoch;
  num_epochs_ = num_epochs;
  total_steps_ = total_steps;
  steps_ = images_ = 0;
  loss_ = accuracy_ = 0;
  start_time_ = now_ = last_output_time_ = clock_();
  next_fraction_ = options_.plain_interval_fraction;
  printed_steps_ = -1;
}

void ProgressReporter::update(std::int64_t steps_done, std::int64_t images_done, double loss,
                              double accuracy) {
  steps_ = steps_done;
  images_ = images_done;
  loss_ = loss;
  accuracy_ = accuracy;
  now_ = clock_();
  const bool last = steps_ >= total_steps_;
  if (options_.is_terminal) {
    if (last || printed_steps_ < 0 || now_ - last_output_time_ >= options_.redraw_seconds) draw();
    return;
  }
  const double fraction =
      total_steps_ > 0 ? static_cast<double>(steps_) / static_cast<double>(total_steps_) : 1.0;
  const bool due_by_time = now_ - last_output_time_ >= options_.plain_interval_seconds;
  const bool due_by_fraction = fraction + 1e-12 >= next_fraction_;
  if (due_by_time || due_by_fraction || last) print_plain();
  while (next_fraction_ <= fraction + 1e-12) next_fraction_ += options_.plain_interval_fraction;
}

void ProgressReporter::end_epoch() {
  if (options_.is_terminal) {
    if (printed_steps_ != steps_) draw();
    if (line_open_) out_ << '\n';
    line_open_ = false;
    drawn_width_ = 0;
  } else if (printed_steps_ != steps_) {
    print_plain();
  }
  out_.flush();
}

void ProgressReporter::message(const std::string& line) {
  if (line_open_) {
    out_ << '\n';
    line_open_ = false;
    drawn_width_ = 0;
  }
  out_ << line << '\n';
  out_.flush();
}

std::string ProgressReporter::progress_line() const {
  const double elapsed = now_ - start_time_;
  const double fraction =
      total_steps_ > 0 ? static_cast<double>(steps_) / static_cast<double>(total_steps_) : 1.0;
  const int percent = static_cast<int>(std::floor(100.0 * std::min(fraction, 1.0)));
  std::string line = "epoch " + std::to_string(epoch_) + "/" + std::to_string(num_epochs_) + " ";
  char buf[160];
  if (options_.is_terminal) {
    const int width = options_.bar_width;
    const auto filled = static_cast<int>(std::floor(width * std::min(fraction, 1.0)));
    std::string bar(static_cast<std::size_t>(width), ' ');
    for (int i = 0; i < width; ++i) {
      if (i < filled) bar[static_cast<std::size_t>(i)] = '=';
      if (i == filled && steps_ > 0) bar[static_cast<std::size_t>(i)] = '>';
    }
    std::snprintf(buf, sizeof buf, "] %lld/%lld %3d%%", static_cast<long long>(steps_),
                  static_cast<long long>(total_steps_), percent);
    line += "[" + bar;
  } else {
    std::snprintf(buf, sizeof buf, "step %lld/%lld (%d%%)", static_cast<long long>(steps_),
                  static_cast<long long>(total_steps_), percent);
  }
  line += buf;
  std::snprintf(buf, sizeof buf, " loss %.4f acc %.2f%%", loss_, 100.0 * accuracy_);
  line += buf;
  if (elapsed > 0) {
    std::snprintf(buf, sizeof buf, " %.0f img/s", static_cast<double>(images_) / elapsed);
    line += buf;
  }
  if (steps_ >= total_steps_) {
    line += " in " + format_duration(elapsed);
  } else if (steps_ > 0) {
    const double eta =
        elapsed / static_cast<double>(steps_) * static_cast<double>(total_steps_ - steps_);
    line += " ETA " + format_duration(eta);
  }
  return line;
}

void ProgressReporter::draw() {
  const std::string line = progress_line();
  out_ << '\r' << line;
  if (line.size() < drawn_width_) out_ << std::string(drawn_width_ - line.size(), ' ');
  drawn_width_ = line.size();
  out_.flush();
  line_open_ = true;
  last_output_time_ = now_;
  printed_steps_ = steps_;
}

void ProgressReporter::print_plain() {
  out_ << progress_line() << '\n';
  out_.flush();
  last_output_time_ = now_;
  printed_steps_ = steps_;
}

}  // namespace cudanet::train
