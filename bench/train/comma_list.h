// The non-empty items of a comma-separated command-line value ("alexnet,alexnet-owt"), shared by
// the training benchmarks of this folder.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace cudanet::bench {

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace cudanet::bench
