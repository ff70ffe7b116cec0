// cudanet: the command-line program. Subcommands: info, demo (more arrive with the trainer).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/commands.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const Command kCommands[] = {
    {"info", "version, build configuration and GPUs", cudanet::tools::run_info},
    {"demo", "the core runtime end to end: tensors, RNG, copies, allocator",
     cudanet::tools::run_demo},
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: cudanet <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'cudanet <command> --help' describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(args);
    } catch (const cudanet::Error& e) {
      std::fprintf(stderr, "cudanet %s: error: %s\n", c.name, e.message().c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cudanet %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "cudanet: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
