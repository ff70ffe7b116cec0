// The subcommands of the cudanet program. Each takes the arguments after its name and returns
// the process exit code; errors are thrown as cudanet::Error and reported by run_cli()
// (tools/cli.h). check_<command> parses and validates the same arguments without running.
#pragma once

#include <string>
#include <vector>

namespace cudanet::tools {
int run_info(const std::vector<std::string>& args);
int run_demo(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_summary(const std::vector<std::string>& args);
int run_profile(const std::vector<std::string>& args);
int run_make_synthetic_imagefolder(const std::vector<std::string>& args);

int check_info(const std::vector<std::string>& args);
int check_demo(const std::vector<std::string>& args);
int check_train(const std::vector<std::string>& args);
int check_eval(const std::vector<std::string>& args);
int check_summary(const std::vector<std::string>& args);
int check_profile(const std::vector<std::string>& args);
int check_make_synthetic_imagefolder(const std::vector<std::string>& args);
}  // namespace cudanet::tools
