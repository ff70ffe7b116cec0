// IDX files: the MNIST / Fashion-MNIST array format, optionally gzip-compressed.
//
// Layout: a 4-byte magic 0x00 0x00 <type> <ndims>, then ndims big-endian uint32 sizes, then the
// elements in row-major order, big-endian. Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
// 0x0D float32, 0x0E float64. A file starting with the gzip magic (0x1f 0x8b) is decompressed
// first (zlib; concatenated gzip members are read as one stream).
//
// Note: the reader treats its input as hostile. Every malformation -- a short header, a bad magic,
// an unknown type, sizes whose product overflows or disagrees with the data, truncated data,
// trailing bytes, a corrupt gzip stream -- throws IoError naming the file and the problem. It never
// reads outside its buffers, and it never allocates more than the data actually present: the
// decompressed buffer grows with the stream instead of trusting the sizes in the header.
#pragma once

#include <cstddef>
#include <string>

#include "core/tensor.h"

namespace cudanet::train {

// Reads an IDX file (plain or gzip-compressed, recognised by its contents) into a CPU tensor of
// the file's shape: uint8 for 0x08, int32 for 0x09 / 0x0B / 0x0C (int8 and int16 are widened:
// cudanet has no narrower signed dtypes), float32 for 0x0D, float64 for 0x0E.
Tensor read_idx(const std::string& path);

// The same on bytes in memory; `name` stands for the file in error messages.
Tensor parse_idx(const void* data, std::size_t size, const std::string& name = "<memory>");

// Writes `tensor` (uint8, int32, float32 or float64; 1 to 255 dimensions, each < 2^32) as an IDX
// file, gzip-compressed when `path` ends in ".gz". The file is replaced atomically.
void write_idx(const std::string& path, const Tensor& tensor);

// The IDX bytes of `tensor` (uncompressed), as write_idx writes them.
std::string idx_bytes(const Tensor& tensor);

// The whole contents of a file; throws IoError naming the file when it cannot be read.
std::string read_file_bytes(const std::string& path);

}  // namespace cudanet::train
