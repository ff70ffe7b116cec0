// cudanet: the command-line program; the commands are listed in tools/cli.cc.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/cli.h"

int main(int argc, char** argv) {
  return cudanet::tools::run_cli(std::vector<std::string>(argv + 1, argv + argc),
                                 /*parse_only=*/false, stderr);
}
