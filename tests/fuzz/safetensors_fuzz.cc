// Fuzz target: the safetensors reader (train/safetensors.h) on arbitrary bytes.
//
// Properties: a malformed file is rejected with IoError only (no crash, no other exception, no
// sanitizer report, no allocation beyond what the file holds); a file that is accepted writes back
// (safetensors_bytes) to bytes that read again to the same names, dtypes, shapes, data and
// metadata.
#include <cstdint>
#include <cstring>

#include "tests/fuzz/fuzz_check.h"
#include "train/safetensors.h"

using cudanet::train::SafetensorsContents;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SafetensorsContents first;
  try {
    first = cudanet::train::parse_safetensors(data, size, "fuzz");
  } catch (const cudanet::IoError&) {
    return 0;
  }
  const std::string again = cudanet::train::safetensors_bytes(first.tensors, first.metadata);
  const SafetensorsContents second =
      cudanet::train::parse_safetensors(again.data(), again.size(), "round trip");
  FUZZ_CHECK(second.metadata == first.metadata);
  FUZZ_CHECK(second.tensors.size() == first.tensors.size());
  for (std::size_t i = 0; i < first.tensors.size(); ++i) {
    const cudanet::Tensor& a = first.tensors[i].second;
    const cudanet::Tensor& b = second.tensors[i].second;
    FUZZ_CHECK(second.tensors[i].first == first.tensors[i].first);
    FUZZ_CHECK(a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes());
    FUZZ_CHECK(a.nbytes() == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0);
  }
  return 0;
}
