#include "core/version.h"

#include "core/config.h"

namespace cudanet {

std::string version() {
  return CUDANET_VERSION_STRING;
}

std::string build_info() {
  std::string info = "cudanet " CUDANET_VERSION_STRING;
  info += CUDANET_WITH_CUDA ? " cuda=on" : " cuda=off";
  info += CUDANET_WITH_CUDNN ? " cudnn=on" : " cudnn=off";
  return info;
}

}  // namespace cudanet
