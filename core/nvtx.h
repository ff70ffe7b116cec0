// Profiling ranges: CUDANET_RANGE("conv1/forward") opens an NVTX range until the end of the
// scope, so Nsight Systems shows the network's structure. A no-op in CPU-only builds.
#pragma once

namespace cudanet {

class ScopedRange {
 public:
  explicit ScopedRange(const char* name);
  ~ScopedRange();
  ScopedRange(const ScopedRange&) = delete;
  ScopedRange& operator=(const ScopedRange&) = delete;
};

// Number of ranges currently open on the calling thread (for tests and diagnostics).
int open_range_depth();

}  // namespace cudanet

#define CUDANET_RANGE_CONCAT_(a, b) a##b
#define CUDANET_RANGE_CONCAT(a, b) CUDANET_RANGE_CONCAT_(a, b)
#define CUDANET_RANGE(name) \
  ::cudanet::ScopedRange CUDANET_RANGE_CONCAT(cudanet_range_, __LINE__)(name)
