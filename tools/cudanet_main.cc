// cudanet: the command-line entry point (placeholder until later subcommands land).
#include <cstdio>

#include "core/version.h"

int main() {
  std::printf("%s\n", cudanet::build_info().c_str());
  return 0;
}
