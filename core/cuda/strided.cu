// Strided element copy and fill kernels: the GPU side of Tensor::copy_, contiguous() and fill_.
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/memory_ops.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

namespace cudanet::cuda {

namespace {

constexpr int kThreads = 256;

// Element offset of linear (row-major) index `i` in `layout`.
__device__ __forceinline__ std::int64_t strided_offset(std::int64_t i,
                                                       const StridedLayout& layout) {
  std::int64_t offset = 0;
  for (int d = layout.ndim - 1; d >= 0; --d) {
    const std::int64_t size = layout.sizes[d];
    offset += (i % size) * layout.strides[d];
    i /= size;
  }
  return offset;
}

template <typename Word>
__global__ void strided_copy_kernel(Word* dst, StridedLayout dst_layout, const Word* src,
                                    StridedLayout src_layout, std::int64_t numel) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
       i += step) {
    dst[strided_offset(i, dst_layout)] = src[strided_offset(i, src_layout)];
  }
}

template <typename Word>
__global__ void strided_fill_kernel(Word* dst, StridedLayout layout, std::int64_t numel,
                                    Word value) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
       i += step) {
    dst[strided_offset(i, layout)] = value;
  }
}

unsigned grid_for(std::int64_t numel) {
  const std::int64_t blocks = (numel + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

cudaStream_t raw(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}

// Calls f(Word{}) with an unsigned integer type of `elem_size` bytes.
template <typename F>
void dispatch_word(std::size_t elem_size, F&& f) {
  switch (elem_size) {
    case 1:
      f(std::uint8_t{});
      return;
    case 2:
      f(std::uint16_t{});
      return;
    case 4:
      f(std::uint32_t{});
      return;
    case 8:
      f(std::uint64_t{});
      return;
    default:
      CUDANET_THROW(ValueError, "strided kernel: unsupported element size ", elem_size);
  }
}

}  // namespace

void strided_copy(void* dst, const StridedLayout& dst_layout, const void* src,
                  const StridedLayout& src_layout, std::int64_t numel, std::size_t elem_size,
                  const Stream& stream) {
  if (numel == 0) return;
  DeviceGuard guard(stream.device().index());
  dispatch_word(elem_size, [&](auto tag) {
    using Word = decltype(tag);
    strided_copy_kernel<Word><<<grid_for(numel), kThreads, 0, raw(stream)>>>(
        static_cast<Word*>(dst), dst_layout, static_cast<const Word*>(src), src_layout, numel);
    CUDANET_LAUNCH_CHECK();
  });
}

void strided_fill(void* dst, const StridedLayout& layout, std::int64_t numel, const void* pattern,
                  std::size_t elem_size, const Stream& stream) {
  if (numel == 0) return;
  DeviceGuard guard(stream.device().index());
  dispatch_word(elem_size, [&](auto tag) {
    using Word = decltype(tag);
    Word value;
    memcpy(&value, pattern, sizeof(Word));
    strided_fill_kernel<Word><<<grid_for(numel), kThreads, 0, raw(stream)>>>(
        static_cast<Word*>(dst), layout, numel, value);
    CUDANET_LAUNCH_CHECK();
  });
}

}  // namespace cudanet::cuda
