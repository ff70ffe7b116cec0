// Progress output with a fake clock: a redrawn bar on a terminal, periodic lines otherwise.
#include "train/progress.h"

#include <gtest/gtest.h>
#include <sstream>

#include "core/error.h"

namespace cudanet::train {
namespace {

struct FakeClock {
  double now = 100.0;
  ProgressClock clock() {
    return [this] { return now; };
  }
};

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(7.4), "0:07");
  EXPECT_EQ(format_duration(725), "12:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, TerminalRedrawsOneLineInPlace) {
  std::ostringstream out;
  FakeClock t;
  ProgressOptions o;
  o.is_terminal = true;
  o.bar_width = 10;
  ProgressReporter p(out, o, t.clock());
  p.start_epoch(3, 10, 100);
  t.now += 1.0;
  p.update(50, 3200, 0.41234, 0.852);
  EXPECT_EQ(out.str(),
            "\repoch 3/10 [=====>    ] 50/100  50% loss 0.4123 acc 85.20% 3200 img/s ETA 0:01");
  t.now += 0.05;
  p.update(51, 3264, 0.4, 0.85);  // within redraw_seconds: not drawn
  EXPECT_EQ(count(out.str(), "\r"), 1);
  t.now += 0.1;
  p.update(60, 3840, 0.4, 0.85);
  EXPECT_EQ(count(out.str(), "\r"), 2);
  t.now += 0.85;
  p.update(100, 6400, 0.3, 0.9);  // the last step is always drawn
  EXPECT_EQ(count(out.str(), "\r"), 3);
  EXPECT_NE(out.str().find("[==========] 100/100 100%"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("3200 img/s in 0:02"), std::string::npos) << out.str();
  EXPECT_EQ(count(out.str(), "\n"), 0);
  p.end_epoch();
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_EQ(count(out.str(), "\n"), 1);
  p.message("epoch 3: val_accuracy 0.9");
  EXPECT_EQ(count(out.str(), "\n"), 2);
}

TEST(Progress, TerminalPadsAShorterLine) {
  std::ostringstream out;
  FakeClock t;
  ProgressOptions o;
  o.is_terminal = true;
  ProgressReporter p(out, o, t.clock());
  p.start_epoch(1, 1, 10);
  t.now += 1;
  p.update(1, 1000000, 10.0, 0.5);
  const std::size_t first = out.str().size() - 1;  // without the '\r'
  t.now += 1;
  p.update(2, 2, 1.0, 0.5);
  const std::string second = out.str().substr(first + 2);
  EXPECT_EQ(second.size(), first) << "the second line is padded to the first's width";
  // A message in the middle of an epoch first ends the open line.
  p.message("note");
  EXPECT_NE(out.str().find("\nnote\n"), std::string::npos);
}

TEST(Progress, PlainPrintsPeriodicLinesByFraction) {
  std::ostringstream out;
  FakeClock t;
  ProgressOptions o;
  o.is_terminal = false;
  o.plain_interval_fraction = 0.25;
  o.plain_interval_seconds = 1000;
  ProgressReporter p(out, o, t.clock());
  p.start_epoch(1, 2, 8);
  for (int step = 1; step <= 8; ++step) {
    t.now += 0.5;
    p.update(step, 10 * step, 1.0 / step, 0.1 * step);
  }
  p.end_epoch();
  const std::string s = out.str();
  EXPECT_EQ(count(s, "\n"), 4) << s;  // 25%, 50%, 75%, 100%
  EXPECT_EQ(count(s, "\r"), 0);
  EXPECT_NE(s.find("epoch 1/2 step 2/8 (25%) loss 0.5000 acc 20.00% 20 img/s ETA 0:03\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("epoch 1/2 step 8/8 (100%) loss 0.1250 acc 80.00% 20 img/s in 0:04\n"),
            std::string::npos)
      << s;
}

TEST(Progress, PlainPrintsPeriodicLinesByTime) {
  std::ostringstream out;
  FakeClock t;
  ProgressOptions o;
  o.is_terminal = false;
  o.plain_interval_fraction = 1.0;  // only time triggers, and the end
  o.plain_interval_seconds = 10;
  ProgressReporter p(out, o, t.clock());
  p.start_epoch(1, 1, 1000);
  for (int step = 1; step <= 100; ++step) {
    t.now += 1.0;
    p.update(step, step, 1.0, 0.5);
  }
  EXPECT_EQ(count(out.str(), "\n"), 10) << out.str();
  p.end_epoch();  // the last state was already printed at t = 100
  EXPECT_EQ(count(out.str(), "\n"), 10);
  t.now += 3;
  p.update(101, 101, 1.0, 0.5);
  p.end_epoch();  // an unprinted final state gets a line
  EXPECT_EQ(count(out.str(), "\n"), 11);
  EXPECT_NE(out.str().find("step 101/1000"), std::string::npos);
}

TEST(Progress, RejectsBadOptions) {
  std::ostringstream out;
  ProgressOptions o;
  o.plain_interval_fraction = 0;
  EXPECT_THROW(ProgressReporter(out, o), ValueError);
  o = ProgressOptions();
  o.bar_width = 0;
  EXPECT_THROW(ProgressReporter(out, o), ValueError);
  (void)ProgressOptions::for_stdout();  // asks isatty(stdout): either answer is fine
}

}  // namespace
}  // namespace cudanet::train
