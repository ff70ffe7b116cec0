// The CUDA backend of the caching allocator and the process-wide allocator of each device.
#include "core/cuda_allocator.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

namespace cudanet::cuda {

namespace {

// cudaMalloc and friends on one device. Called only with the core's mutex held.
class CudaDeviceBackend final : public RawMemoryBackend {
 public:
  explicit CudaDeviceBackend(int device) : device_(device) {}

  void* malloc(std::size_t nbytes) override {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, nbytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it so later checks do not see it
      return nullptr;
    }
    CUDANET_CUDA_CHECK(status);
    return ptr;
  }

  void free(void* ptr) override {
    DeviceGuard guard(device_);
    CUDANET_CUDA_CHECK(cudaFree(ptr));
  }

  void mem_info(std::size_t* free_bytes, std::size_t* total_bytes) override {
    DeviceGuard guard(device_);
    CUDANET_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
  }

  EventId record_event(std::uintptr_t stream) override {
    DeviceGuard guard(device_);
    cudaEvent_t event = nullptr;
    if (spare_events_.empty()) {
      CUDANET_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    } else {
      event = spare_events_.back();
      spare_events_.pop_back();
    }
    const cudaError_t status = cudaEventRecord(event, reinterpret_cast<cudaStream_t>(stream));
    if (status != cudaSuccess) {
      spare_events_.push_back(event);
      CUDANET_CUDA_CHECK(status);
    }
    return reinterpret_cast<EventId>(event);
  }

  bool event_done(EventId event) override {
    return CUDANET_CUDA_READY(cudaEventQuery(reinterpret_cast<cudaEvent_t>(event)));
  }

  // Events are kept for reuse (creating one costs a driver call); beyond a few, destroyed.
  void release_event(EventId event) override {
    auto* e = reinterpret_cast<cudaEvent_t>(event);
    if (spare_events_.size() < kMaxSpareEvents) {
      spare_events_.push_back(e);
      return;
    }
    DeviceGuard guard(device_);
    CUDANET_CUDA_CHECK(cudaEventDestroy(e));
  }

  void synchronize() override {
    DeviceGuard guard(device_);
    CUDANET_CUDA_CHECK(cudaDeviceSynchronize());
  }

  bool capturing(std::uintptr_t stream) override {
    DeviceGuard guard(device_);
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    const cudaError_t e = cudaStreamIsCapturing(reinterpret_cast<cudaStream_t>(stream), &status);
    if (e != cudaSuccess) {
      // The legacy default stream while another stream captures (cudaErrorStreamCaptureImplicit):
      // synchronising would invalidate that capture too. The error is not sticky; clear it.
      (void)cudaGetLastError();
      return true;
    }
    return status != cudaStreamCaptureStatusNone;
  }

 private:
  static constexpr std::size_t kMaxSpareEvents = 256;
  int device_;
  std::vector<cudaEvent_t> spare_events_;
};

bool no_caching_requested() {
  const char* env = std::getenv("CUDANET_NO_CACHING");
  return env != nullptr && *env != '\0' && std::string(env) != "0";
}

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device)
      : device_(Device::cuda(device)),
        backend_(device),
        core_(backend_, CachingAllocatorOptions{device_.str(), no_caching_requested()}) {}

  DataPtr allocate(std::size_t nbytes, const Stream& stream) override {
    check_stream(stream);
    if (nbytes == 0) return {};
    return DataPtr(core_.malloc(nbytes, stream.id()), this, &CudaCachingAllocator::deleter,
                   device_);
  }

  void record_stream(void* ptr, const Stream& stream) override {
    check_stream(stream);
    core_.record_stream(ptr, stream.id());
  }

  CachingAllocatorCore& core() { return core_; }

 private:
  void check_stream(const Stream& stream) const {
    CUDANET_CHECK(stream.device() == device_, ValueError, "the caching allocator of ", device_,
                  " was given a stream of ", stream.device());
  }

  static void deleter(void* context, void* ptr) noexcept {
    auto* self = static_cast<CudaCachingAllocator*>(context);
    try {
      self->core_.free(ptr);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cudanet: freeing %p on %s failed (ignored in a deleter): %s\n", ptr,
                   self->device_.str().c_str(), e.what());
    }
  }

  Device device_;
  CudaDeviceBackend backend_;
  CachingAllocatorCore core_;
};

CudaCachingAllocator& allocator_of(int device) {
  require_device(device);
  // Leaked on purpose: DataPtrs may outlive static destruction.
  static auto* const mutex = new std::mutex();
  static auto* const allocators = new std::vector<CudaCachingAllocator*>(device_count(), nullptr);
  std::lock_guard<std::mutex> lock(*mutex);
  CudaCachingAllocator*& slot = (*allocators)[static_cast<std::size_t>(device)];
  if (slot == nullptr) slot = new CudaCachingAllocator(device);
  return *slot;
}

}  // namespace

Allocator& caching_allocator(int device) {
  return allocator_of(device);
}
MemoryStats memory_stats(int device) {
  return allocator_of(device).core().stats();
}
void reset_peak_memory_stats(int device) {
  allocator_of(device).core().reset_peak_stats();
}
void empty_cache(int device) {
  allocator_of(device).core().empty_cache();
}
std::string memory_summary(int device) {
  return allocator_of(device).core().memory_summary();
}
bool caching_disabled(int device) {
  return allocator_of(device).core().bypass();
}
void retain_stream_segments(const Stream& stream) {
  allocator_of(stream.device().index()).core().retain_stream_segments(stream.id());
}
void release_stream_segments(const Stream& stream) {
  allocator_of(stream.device().index()).core().release_stream_segments(stream.id());
}

}  // namespace cudanet::cuda
