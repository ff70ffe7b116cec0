// ProgressReporter: what a training epoch shows while it runs.
//
// On a terminal it draws one line, redrawn in place with '\r' (at most every
// `redraw_seconds`, always for the last step):
//   epoch 3/10 [==========>         ] 480/938  51% loss 0.4123 acc 85.20% 15234 img/s ETA 0:03
// When the output is not a terminal (a log file, CI) it prints plain lines instead, one whenever
// `plain_interval_seconds` have passed or another `plain_interval_fraction` of the epoch is done:
//   epoch 3/10 step 480/938 (51%) loss 0.4123 acc 85.20% 15234 img/s ETA 0:03
//
// Note: the output stream, the clock and the terminal flag are injected, so tests can drive it
// with a string stream and a fake clock; ProgressOptions::for_stdout() asks isatty(stdout).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace cudanet::train {

struct ProgressOptions {
  bool is_terminal = false;
  double redraw_seconds = 0.1;           // terminal: minimum time between redraws
  double plain_interval_seconds = 10.0;  // plain: a line at least this often ...
  double plain_interval_fraction = 0.1;  // ... and at every further 10% of the epoch
  int bar_width = 20;

  // is_terminal = isatty(stdout).
  static ProgressOptions for_stdout();
};

// Seconds from some fixed point, e.g. a steady clock.
using ProgressClock = std::function<double()>;
ProgressClock steady_progress_clock();

// "0:07", "12:05", "1:02:03".
std::string format_duration(double seconds);

class ProgressReporter {
 public:
  // Throws ValueError for non-positive intervals or bar width.
  ProgressReporter(std::ostream& out, ProgressOptions options,
                   ProgressClock clock = steady_progress_clock());

  // Starts epoch `epoch` (1-based in the output) of `num_epochs`, which has `total_steps` steps.
  void start_epoch(std::int64_t epoch, std::int64_t num_epochs, std::int64_t total_steps);
  // Reports that `steps_done` steps (of total_steps) and `images_done` images are finished, with
  // the running mean loss and accuracy (a fraction) of the epoch so far.
  void update(std::int64_t steps_done, std::int64_t images_done, double loss, double accuracy);
  // Ends the epoch's progress output: on a terminal the line is finished with a newline.
  void end_epoch();
  // Prints a whole line (e.g. an epoch summary), first finishing an open progress line.
  void message(const std::string& line);

  // The text of the progress line for the current state (without '\r' or newline).
  std::string progress_line() const;

 private:
  void draw();
  void print_plain();

  std::ostream& out_;
  ProgressOptions options_;
  ProgressClock clock_;
  std::int64_t epoch_ = 0, num_epochs_ = 0, total_steps_ = 0;
  std::int64_t steps_ = 0, images_ = 0;
  double loss_ = 0, accuracy_ = 0;
  double start_time_ = 0, now_ = 0;
  double last_output_time_ = 0;
  double next_fraction_ = 0;     // plain: the fraction of the epoch at which the next line is due
  std::size_t drawn_width_ = 0;  // terminal: characters of the line on screen
  bool line_open_ = false;       // terminal: a progress line without its newline
  std::int64_t printed_steps_ = -1;  // the step count last shown (-1: none this epoch)
};

}  // namespace cudanet::train
