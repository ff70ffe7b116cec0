// cudanet: the command-line program. Subcommands: train, eval, summary, profile, info, demo.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const Command kCommands[] = {
    {"train", "train a model (default: LeNet-5 on Fashion-MNIST)", cudanet::tools::run_train},
    {"eval", "evaluate a checkpoint on a test set", cudanet::tools::run_eval},
    {"summary", "every layer of a model: output shape and parameters", cudanet::tools::run_summary},
    {"info", "version, build configuration and GPUs", cudanet::tools::run_info},
    {"profile", "per-layer forward / backward times of a training step",
     cudanet::tools::run_profile},
    {"demo", "the core runtime end to end: tensors, RNG, copies, allocator",
     cudanet::tools::run_demo},
    {"make-synthetic-imagefolder", "write a learnable ImageFolder of synthetic JPEGs",
     cudanet::tools::run_make_synthetic_imagefolder},
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
    } catch (const cudanet::tools::UsageError& e) {
      std::fprintf(stderr, "cudanet %s: %s (see cudanet %s --help)\n", c.name, e.message().c_str(),
                   c.name);
      return 2;
    } catch (const cudanet::OutOfMemoryError& e) {
      std::fprintf(
          stderr,
          "cudanet %s: out of memory: %s\nTry a smaller --batch-size, or a smaller model.\n",
          c.name, e.message().c_str());
      return 1;
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
