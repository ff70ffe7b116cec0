#include "tools/cli.h"

#include <cstring>
#include <exception>

#include "core/error.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cudanet::tools {

namespace {

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;
  CommandFn run;
  CommandFn check;  // parses and validates the arguments only
};

const Command kCommands[] = {
    {"train", "train a model (default: LeNet-5 on Fashion-MNIST)", run_train, check_train},
    {"eval", "evaluate a checkpoint on a test set", run_eval, check_eval},
    {"summary", "every layer of a model: output shape and parameters", run_summary, check_summary},
    {"info", "version, build configuration and GPUs", run_info, check_info},
    {"profile", "per-layer forward / backward times of a training step", run_profile,
     check_profile},
    {"demo", "the core runtime end to end: tensors, RNG, copies, allocator", run_demo, check_demo},
    {"make-synthetic-imagefolder", "write a learnable ImageFolder of synthetic JPEGs",
     run_make_synthetic_imagefolder, check_make_synthetic_imagefolder},
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: cudanet <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-26s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'cudanet <command> --help' describes a command's options.\n");
}

}  // namespace

int run_cli(const std::vector<std::string>& args, bool parse_only, std::FILE* err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    usage(args.empty() ? err : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const Command& c : kCommands) {
    if (args[0] != c.name) continue;
    try {
      return parse_only ? c.check(rest) : c.run(rest);
    } catch (const UsageError& e) {
      std::fprintf(err, "cudanet %s: %s (see cudanet %s --help)\n", c.name, e.message().c_str(),
                   c.name);
      return 2;
    } catch (const OutOfMemoryError& e) {
      // The trainer's message names the batch size and a smaller one; others get the hint here.
      const bool hint = e.message().find("--batch-size") == std::string::npos;
      std::fprintf(err, "cudanet %s: out of memory: %s\n%s", c.name, e.message().c_str(),
                   hint ? "Try a smaller --batch-size, or a smaller model.\n" : "");
      return 1;
    } catch (const Error& e) {
      std::fprintf(err, "cudanet %s: error: %s\n", c.name, e.message().c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(err, "cudanet %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(err, "cudanet: unknown command '%s'\n\n", args[0].c_str());
  usage(err);
  return 2;
}

}  // namespace cudanet::tools
