// A small command-line parser for the cudanet subcommands: --flag VALUE and --switch options,
// each bound to a variable, with generated help. Unknown flags and bad values throw UsageError,
// which main() reports with the usage and exit code 2.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace cudanet::tools {

class UsageError : public ValueError {
  using ValueError::ValueError;
};

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);
  ArgParser& flag(const std::string& name, std::string* target, const std::string& help);
  ArgParser& flag(const std::string& name, std::int64_t* target, const std::string& help);
  ArgParser& flag(const std::string& name, std::uint64_t* target, const std::string& help);
  ArgParser& flag(const std::string& name, double* target, const std::string& help);
  ArgParser& toggle(const std::string& name, bool* target, const std::string& help);
  // Parses `args`; returns false when --help was given (the help is then printed).
  bool parse(const std::vector<std::string>& args);
  std::string help() const;

 private:
  struct Option {
    std::string name, help, default_text;
    bool takes_value;
    std::function<void(const std::string&)> set;
  };
  ArgParser& add(Option o);
  std::string command_, summary_;
  std::vector<Option> options_;
};

}  // namespace cudanet::tools
