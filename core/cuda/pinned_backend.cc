#include "core/cuda/pinned_backend.h"

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"

namespace cudanet::cuda {

namespace {

class PinnedHostBackend final : public HostMemoryBackend {
 public:
  void* malloc(std::size_t nbytes) override {
    void* ptr = nullptr;
    const cudaError_t status = cudaHostAlloc(&ptr, nbytes, cudaHostAllocPortable);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it so later checks do not see it
      return nullptr;
    }
    CUDANET_CUDA_CHECK(status);
    return ptr;
  }

  void free(void* ptr) override { CUDANET_CUDA_CHECK(cudaFreeHost(ptr)); }

  EventId record_event(const Stream& stream) override {
    DeviceGuard guard(stream.device().index());
    cudaEvent_t event = nullptr;
    CUDANET_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    const cudaError_t status = cudaEventRecord(event, static_cast<cudaStream_t>(stream.handle()));
    if (status != cudaSuccess) {
      CUDANET_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
      CUDANET_CUDA_CHECK(status);
    }
    return reinterpret_cast<EventId>(event);
  }

  bool event_done(EventId event) override {
    return CUDANET_CUDA_READY(cudaEventQuery(reinterpret_cast<cudaEvent_t>(event)));
  }

  void release_event(EventId event) override {
    CUDANET_CUDA_CHECK(cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event)));
  }

  bool pinned() const override { return true; }
};

}  // namespace

std::unique_ptr<HostMemoryBackend> make_pinned_host_backend() {
  return std::make_unique<PinnedHostBackend>();
}

}  // namespace cudanet::cuda
