// The cudanet command line: finds the subcommand named by the first argument, runs it, and turns
// what it throws into a message and an exit code (0 success, 1 error, 2 usage error).
//
// Note: with `parse_only` a command parses and validates its options (names, numbers, schedule
// and data specifications) and returns without touching data, files or devices -- what the
// command-line fuzzer (tests/fuzz/cli_fuzz.cc) drives. main() is run_cli(argv + 1, false).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace cudanet::tools {

// `args` are the arguments after the program name (args[0] is the command). Messages go to
// `err`; help and results to stdout.
int run_cli(const std::vector<std::string>& args, bool parse_only, std::FILE* err);

}  // namespace cudanet::tools
