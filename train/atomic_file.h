// AtomicFile: writes a file so that readers see either the old contents or the complete new ones.
//
// Note: the bytes go to `<path>.tmp.<pid>` in the same directory; commit() flushes them to disk
// (fsync), renames the temporary file over `path` and flushes the directory, so a crash at any
// moment leaves either the previous file or the new one, never a torn one. An AtomicFile that is
// destroyed without commit() (an exception on the way) removes its temporary file.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cudanet::train {

class AtomicFile {
 public:
  // Creates the temporary file; throws IoError when it cannot.
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Appends bytes; throws IoError on a write error (e.g. a full disk).
  void write(const void* data, std::size_t nbytes);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // fsync, rename over the target, fsync the directory. Throws IoError; then nothing is replaced.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `bytes` to `path` atomically (see above).
void write_file_atomic(const std::string& path, const std::string& bytes);

// Removes the temporary files "<path>.tmp.<pid>" that processes killed while writing `path` left
// behind -- only names of that form, and only when no process with that pid is alive (it may still
// be writing). Returns the paths removed; nothing for an empty path or a missing directory.
std::vector<std::string> remove_stale_temporaries(const std::string& path);

}  // namespace cudanet::train
