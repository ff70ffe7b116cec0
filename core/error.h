// Errors: every failure in cudanet is reported by throwing one of these exceptions.
//
// Note: library code never calls abort() or exit(). Each exception carries the file and line
// where it was raised; what() reads "file:line: message". Use the CUDANET_THROW / CUDANET_CHECK
// macros so the location is filled in and the message names the offending values.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cudanet {

class Error : public std::runtime_error {
 public:
  Error(std::string message, const char* file, int line);
  // The message without the location.
  const std::string& message() const noexcept { return message_; }
  const char* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }

 private:
  std::string message_;
  const char* file_;
  int line_;
};

// A CUDA runtime, driver, cuBLAS or cuDNN call failed, or CUDA was needed but is unavailable.
class CudaError : public Error {
 public:
  CudaError(std::string message, const char* file, int line, int code = 0)
      : Error(std::move(message), file, line), code_(code) {}
  // The library's status code (cudaError_t, cublasStatus_t, cudnnStatus_t), 0 when none.
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// An allocation failed even after the caches were released.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(std::string message, const char* file, int line, std::size_t requested = 0)
      : Error(std::move(message), file, line), requested_(requested) {}
  std::size_t requested_bytes() const noexcept { return requested_; }

 private:
  std::size_t requested_;
};

// Tensor shapes do not fit the operation.
class ShapeError : public Error {
  using Error::Error;
};

// An argument is out of range or otherwise invalid.
class ValueError : public Error {
  using Error::Error;
};

// A file or stream could not be read or written, or its contents are malformed.
class IoError : public Error {
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace cudanet

// Throws `Type` with a message built by streaming the remaining arguments.
#define CUDANET_THROW(Type, ...) throw Type(::cudanet::detail::str(__VA_ARGS__), __FILE__, __LINE__)

// Throws `Type` unless `cond` holds.
#define CUDANET_CHECK(cond, Type, ...)  \
  do {                                  \
    if (!(cond)) {                      \
      CUDANET_THROW(Type, __VA_ARGS__); \
    }                                   \
  } while (0)
