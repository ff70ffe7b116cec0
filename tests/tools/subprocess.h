// Runs the cudanet program (CUDANET_CLI_PATH, set by tests/CMakeLists.txt) as a child process with
// its output in a file, for tests of exit codes, messages and crash safety.
#pragma once

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace cudanet::testing {

class CliProcess {
 public:
  // Starts `cudanet args...` with stdout and stderr going to `log`.
  CliProcess(const std::vector<std::string>& args, const std::string& log) : log_(log) {
    std::vector<std::string> argv_storage;
    argv_storage.push_back(CUDANET_CLI_PATH);
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  ~CliProcess() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  bool started() const { return pid_ > 0; }
  // Whether the process has ended (without waiting for it).
  bool finished() {
    if (waited_) return true;
    const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) waited_ = true;
    return waited_;
  }
  // Waits for the end; returns the raw wait status.
  int wait() {
    while (!waited_) {
      const pid_t r = ::waitpid(pid_, &status_, 0);
      if (r == pid_ || (r < 0 && errno != EINTR)) waited_ = true;
    }
    return status_;
  }
  void kill_now() { ::kill(pid_, SIGKILL); }
  std::string output() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool waited_ = false;
};

// Runs `cudanet args...` to the end; returns its exit code (-signal when killed by one).
inline int run_cli(const std::vector<std::string>& args, const std::string& log,
                   std::string* output = nullptr) {
  CliProcess p(args, log);
  const int status = p.wait();
  if (output != nullptr) *output = p.output();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? -WTERMSIG(status) : -1000;
}

}  // namespace cudanet::testing
