// Fuzz target: the cudanet command line (tools/cli.h) in parse-only mode -- command dispatch,
// ArgParser and each command's validation of names, numbers and specifications (LR schedules,
// data sets, devices) -- without running anything.
//
// The input is split at NUL bytes into arguments (at most 64). Properties: every argument list
// ends in an exit code of 0, 1 or 2 with any error reported as a message, never a crash, an
// escaping exception or a sanitizer report.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "tools/cli.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::FILE* const sink = std::fopen("/dev/null", "w");
  std::vector<std::string> args(1);
  for (std::size_t i = 0; i < size && args.size() <= 64; ++i) {
    if (data[i] == 0) {
      args.emplace_back();
    } else {
      args.back().push_back(static_cast<char>(data[i]));
    }
  }
  if (args.size() > 64) args.resize(64);
  const int code = cudanet::tools::run_cli(args, /*parse_only=*/true, sink ? sink : stderr);
  FUZZ_CHECK(code == 0 || code == 1 || code == 2);
  return 0;
}
