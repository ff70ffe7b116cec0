// Library version.
#pragma once

#include <string>

namespace cudanet {
// The version string of the linked library, e.g. "0.1.0".
std::string version();
// A one-line description of how the library was built (CUDA, cuDNN, architectures).
std::string build_info();
}  // namespace cudanet
