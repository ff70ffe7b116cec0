// gzip streams through zlib: an incremental reader over bytes in memory, and a compressor.
//
// Note: GzipReader hands out the decompressed bytes in pieces of the caller's size, so a caller
// allocates for what the stream really holds, never for what a header claims. It is strict:
// corrupt data, a bad checksum, a stream that ends early, and bytes after the last gzip member
// (other than further members) all throw IoError naming the file. In a build without zlib
// (CUDANET_WITH_ZLIB == 0) constructing a reader or compressing throws IoError saying so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace cudanet::train {

// Whether this build reads and writes gzip-compressed files (zlib).
bool gzip_supported();

// Whether `data` starts with the gzip magic bytes 0x1f 0x8b.
bool is_gzip(const void* data, std::size_t size);

class GzipReader {
 public:
  // Reads the gzip stream in data[0, size) (not copied: it must outlive the reader); `name`
  // stands for the file in error messages.
  GzipReader(const void* data, std::size_t size, std::string name);
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;
  ~GzipReader();

  // Decompresses up to `n` bytes into `out`; returns how many were written, fewer than `n` only
  // at the end of the stream (after which every call returns 0).
  std::size_t read(void* out, std::size_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A gzip member holding `data` (compression level 6).
std::string gzip_compress(const std::string& data);

}  // namespace cudanet::train
