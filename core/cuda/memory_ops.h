// Device memory transfers and strided element kernels used by Tensor (internal).
//
// This header needs no CUDA headers, so core/*.cc can call it in every build; in a CPU-only
// build the definitions (core/cpu_only_stubs.cc) throw CudaError, and they are unreachable
// anyway because no CUDA tensor can be created there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/stream.h"

namespace cudanet::cuda {

constexpr int kMaxStridedDims = 8;

// Sizes and strides (in elements) of one operand of a strided kernel.
struct StridedLayout {
  int ndim = 0;
  std::int64_t sizes[kMaxStridedDims] = {};
  std::int64_t strides[kMaxStridedDims] = {};
};

// Copies `nbytes` between host and device memory on `stream`. With `synchronize` the call waits
// for the copy; without it the host memory must stay valid (and be pinned for a truly
// asynchronous copy) until the stream reaches it.
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, const Stream& stream,
                         bool synchronize);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, const Stream& stream);
// Device-to-device on one device, queued on `stream`.
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, const Stream& stream);
// Between two devices, queued on `stream` (a stream of the destination device).
void copy_peer(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes,
               const Stream& stream);

// dst[i] = src[i] for every multi-index i of `numel` elements of `elem_size` bytes (1, 2, 4, 8).
void strided_copy(void* dst, const StridedLayout& dst_layout, const void* src,
                  const StridedLayout& src_layout, std::int64_t numel, std::size_t elem_size,
                  const Stream& stream);
// Writes the `elem_size`-byte `pattern` to every element.
void strided_fill(void* dst, const StridedLayout& layout, std::int64_t numel, const void* pattern,
                  std::size_t elem_size, const Stream& stream);

}  // namespace cudanet::cuda
