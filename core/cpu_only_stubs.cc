// CPU-only build: the CUDA entry points that core/ calls exist but throw CudaError (they are
// unreachable in practice, since no CUDA tensor can be created without CUDA).
#include "core/config.h"

#if !CUDANET_WITH_CUDA

#include "core/cuda/memory_ops.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

namespace cudanet::cuda {

namespace {
[[noreturn]] void unavailable(const Stream& stream) {
  require_device(stream.device().index());
  CUDANET_THROW(CudaError, "CUDA is unavailable in this build");
}
}  // namespace

void copy_host_to_device(void*, const void*, std::size_t, const Stream& s, bool) {
  unavailable(s);
}
void copy_device_to_host(void*, const void*, std::size_t, const Stream& s) {
  unavailable(s);
}
void copy_device_to_device(void*, const void*, std::size_t, const Stream& s) {
  unavailable(s);
}
void copy_peer(void*, int, const void*, int, std::size_t, const Stream& s) {
  unavailable(s);
}
void strided_copy(void*, const StridedLayout&, const void*, const StridedLayout&, std::int64_t,
                  std::size_t, const Stream& s) {
  unavailable(s);
}
void strided_fill(void*, const StridedLayout&, std::int64_t, const void*, std::size_t,
                  const Stream& s) {
  unavailable(s);
}

}  // namespace cudanet::cuda

#endif
