// The page-locked host memory backend of the pinned allocator (internal; no CUDA headers).
#pragma once

#include <memory>

#include "core/pinned_allocator.h"

namespace cudanet::cuda {

// cudaHostAlloc (portable: pinned for every device) and per-stream events. Needs a GPU.
std::unique_ptr<HostMemoryBackend> make_pinned_host_backend();

}  // namespace cudanet::cuda
