#include "core/error.h"

namespace cudanet {

namespace {
std::string located(const std::string& message, const char* file, int line) {
  return detail::str(file, ":", line, ": ", message);
}
}  // namespace

Error::Error(std::string message, const char* file, int line)
    : std::runtime_error(located(message, file, line)),
      message_(std::move(message)),
      file_(file),
      line_(line) {}

}  // namespace cudanet
