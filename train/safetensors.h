// safetensors: the checkpoint format of Hugging Face and PyTorch users.
//
// Layout: an 8-byte little-endian header length N, then N bytes of JSON
//   {"__metadata__": {"key": "value", ...},
//    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// (padded with spaces to a multiple of 8 bytes), then the data buffer: each tensor's elements
// contiguous, row-major, little-endian, at [begin, end) of the buffer. The buffer is covered
// exactly: tensors neither overlap nor leave gaps. dtypes: F32, F64, F16, BF16, I32, I64, U8.
// The files interoperate with Python's safetensors.torch.save_file / load_file.
//
// Note: the reader treats its input as hostile. It rejects, with IoError naming the file and the
// problem: a header length over 100 MB or past the end of the file, invalid JSON, entries that are
// not objects or have missing / unknown fields, duplicate names (anywhere in the header), unknown
// dtypes, negative or non-integer dimensions, shapes whose byte size overflows or disagrees with
// their offsets, offsets that are reversed, overlap, leave gaps or run past the data. Tensor
// memory is allocated only after the whole header checks out against the real file size, and
// names from the file are never used to build paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cudanet::train {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsContents {
  NamedTensors tensors;  // CPU tensors in the order of their data in the file
  Metadata metadata;

  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
  // The tensor called `name`; throws ValueError when there is none.
  const Tensor& at(const std::string& name) const;
};

// "F32", "F64", "F16", "BF16", "I32", "I64", "U8".
const char* safetensors_dtype(DType dtype);

// The complete file contents for `tensors` (written in the given order) and `metadata`. Throws
// ValueError for an undefined tensor, a duplicate name, or the reserved name "__metadata__".
std::string safetensors_bytes(const NamedTensors& tensors, const Metadata& metadata = {});

// Writes a safetensors file atomically (see train/atomic_file.h): tensors are copied to the host,
// written in the given order (name order for a map) to `<path>.tmp.<pid>`, flushed, and renamed
// over `path`. Throws ValueError as safetensors_bytes does, IoError when writing fails.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const Metadata& metadata = {});

// Reads a safetensors file into CPU tensors (see the note above for what is rejected).
SafetensorsContents load_safetensors(const std::string& path);

// The same on bytes in memory; `name` stands for the file in error messages.
SafetensorsContents parse_safetensors(const void* data, std::size_t size,
                                      const std::string& name = "<memory>");

}  // namespace cudanet::train
