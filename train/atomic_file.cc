#include "train/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace cudanet::train {

namespace {

std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  CUDANET_CHECK(!path_.empty(), IoError, "cannot write a file with an empty path");
  temp_path_ = path_ + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CUDANET_CHECK(fd_ >= 0, IoError, "cannot create ", temp_path_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, std::size_t nbytes) {
  CUDANET_CHECK(fd_ >= 0, IoError, "write to ", path_, " after commit");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    const ssize_t n = ::write(fd_, p, nbytes);
    if (n < 0 && errno == EINTR) continue;
    CUDANET_CHECK(n > 0, IoError, "cannot write ", temp_path_, ": ",
                  n < 0 ? std::strerror(errno) : "no progress");
    p += n;
    nbytes -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  CUDANET_CHECK(fd_ >= 0, IoError, "commit of ", path_, " twice");
  CUDANET_CHECK(::fsync(fd_) == 0, IoError, "cannot flush ", temp_path_, ": ",
                std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  CUDANET_CHECK(rc == 0, IoError, "cannot close ", temp_path_, ": ", std::strerror(errno));
  CUDANET_CHECK(::rename(temp_path_.c_str(), path_.c_str()) == 0, IoError, "cannot rename ",
                temp_path_, " to ", path_, ": ", std::strerror(errno));
  committed_ = true;
  // The rename is durable once the directory entry is on disk.
  const std::string dir = parent_directory(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CUDANET_CHECK(dfd >= 0, IoError, "cannot open directory ", dir, ": ", std::strerror(errno));
  const int drc = ::fsync(dfd);
  const int saved = errno;
  ::close(dfd);
  CUDANET_CHECK(drc == 0, IoError, "cannot flush directory ", dir, ": ", std::strerror(saved));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

std::vector<std::string> remove_stale_temporaries(const std::string& path) {
  std::vector<std::string> removed;
  if (path.empty()) return removed;
  const std::string dir = parent_directory(path);
  const std::string prefix = path.substr(path.find_last_of('/') + 1) + ".tmp.";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!entry.is_regular_file(ec) || ::kill(static_cast<pid_t>(std::stol(pid)), 0) == 0) continue;
    if (std::filesystem::remove(entry.path(), ec)) removed.push_back(entry.path().string());
  }
  return removed;
}

}  // namespace cudanet::train
