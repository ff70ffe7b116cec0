// Training curves as a PNG, drawn by gnuplot where it is installed.
#pragma once

#include <string>
#include <vector>

#include "train/metrics.h"

namespace cudanet::tools {

// Writes `png` (loss and accuracy per epoch, train and validation) with gnuplot. Returns false and
// sets `why` when no plot could be made (gnuplot missing or failing); never throws for that.
bool plot_training_curves(const std::vector<train::EpochMetrics>& epochs, const std::string& png,
                          std::string* why);

}  // namespace cudanet::tools
