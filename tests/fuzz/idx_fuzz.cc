// Fuzz target: the IDX reader (train/idx.h) on arbitrary bytes, plain or gzip-compressed.
//
// Properties: a malformed file is rejected with IoError only (no crash, no other exception, no
// sanitizer report, no allocation beyond what the stream really holds); an accepted array of one
// or more dimensions writes back (idx_bytes) to bytes that read again to the same tensor.
#include <cstdint>
#include <cstring>

#include "tests/fuzz/fuzz_check.h"
#include "train/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cudanet::Tensor first;
  try {
    first = cudanet::train::parse_idx(data, size, "fuzz");
  } catch (const cudanet::IoError&) {
    return 0;
  }
  FUZZ_CHECK(first.defined());
  if (first.dim() == 0) return 0;  // IDX can describe a scalar; the writer needs a dimension
  const std::string again = cudanet::train::idx_bytes(first);
  const cudanet::Tensor second = cudanet::train::parse_idx(again.data(), again.size(), "again");
  FUZZ_CHECK(second.dtype() == first.dtype() && second.shape() == first.shape());
  FUZZ_CHECK(first.nbytes() == 0 ||
             std::memcmp(first.data_ptr(), second.data_ptr(), first.nbytes()) == 0);
  return 0;
}
