// The CUDA caching allocator: one process-wide CachingAllocatorCore per GPU over cudaMalloc.
//
// Note: each device's allocator is created on first use and deliberately never destroyed (work
// may still be queued, and DataPtrs may still be alive, while static destructors run). Blocks
// are handed out per stream (Stream::id()) with the guarantees stated in core/caching_allocator.h.
// With the environment variable CUDANET_NO_CACHING=1 set when a device's allocator is created,
// every allocation goes straight to cudaMalloc / cudaFree (for compute-sanitizer). In a build
// without CUDA, or for a device that does not exist, every function throws CudaError.
#pragma once

#include <string>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/stream.h"

namespace cudanet::cuda {

// The caching allocator of `device` (what get_allocator(Device::cuda(device)) returns).
Allocator& caching_allocator(int device = 0);
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Waits for pending stream events and returns every unused cached segment to cudaFree.
void empty_cache(int device = 0);
// A readable table of memory_stats(device).
std::string memory_summary(int device = 0);
// True when the allocator of `device` bypasses its cache (CUDANET_NO_CACHING=1).
bool caching_disabled(int device = 0);
// Keeps every cached segment of `stream` reserved (empty_cache and the out-of-memory flush skip
// them) until the matching release; calls nest. A CUDA graph captured on `stream` needs this for
// as long as it exists (CachingAllocatorCore::retain_stream_segments).
void retain_stream_segments(const Stream& stream);
void release_stream_segments(const Stream& stream);

}  // namespace cudanet::cuda
