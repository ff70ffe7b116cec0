#include "tools/plot.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace cudanet::tools {

namespace {

// 'text' for a POSIX shell.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "text" for gnuplot (single-quoted strings there only escape '').
std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

bool plot_training_curves(const std::vector<train::EpochMetrics>& epochs, const std::string& png,
                          std::string* why) {
  if (epochs.empty()) {
    *why = "no epochs to plot";
    return false;
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    *why = "gnuplot not found (apt-get install gnuplot-nox)";
    return false;
  }
  const std::string data = png + ".dat";
  const std::string script = png + ".gp";
  {
    std::ofstream d(data);
    d << "# epoch train_loss val_loss train_accuracy val_accuracy\n";
    for (const train::EpochMetrics& m : epochs) {
      d << m.epoch << ' ' << m.train_loss << ' ' << m.val_loss << ' ' << m.train_accuracy * 100
        << ' ' << m.val_accuracy * 100 << '\n';
    }
    std::ofstream g(script);
    g << "set terminal pngcairo size 1000,420 noenhanced\n"
      << "set output " << gnuplot_quote(png) << "\n"
      << "set multiplot layout 1,2\n"
      << "set grid\nset xlabel 'epoch'\nset key top right\n"
      << (epochs.size() <= 20 ? "set xtics 1\n" : "") << "set title 'loss'\n"
      << "plot " << gnuplot_quote(data)
      << " using 1:2 with linespoints title 'train', '' using 1:3 "
      << "with linespoints title 'validation'\n"
      << "set title 'accuracy (%)'\nset key bottom right\n"
      << "plot " << gnuplot_quote(data)
      << " using 1:4 with linespoints title 'train', '' using 1:5 "
      << "with linespoints title 'validation'\n"
      << "unset multiplot\n";
  }
  const int rc = std::system(("gnuplot " + shell_quote(script) + " 2>/dev/null").c_str());
  std::error_code ignored;
  std::filesystem::remove(data, ignored);
  std::filesystem::remove(script, ignored);
  if (rc != 0 || !std::filesystem::exists(png)) {
    *why = "gnuplot failed to write " + png;
    return false;
  }
  return true;
}

}  // namespace cudanet::tools
