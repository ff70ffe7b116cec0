// The CPU allocator, get_allocator(), and the CUDA allocator entry points of a CPU-only build.
#include "core/allocator.h"

#include <cstdlib>
#include <string>

#include "core/caching_allocator.h"
#include "core/config.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/pinned_allocator.h"

namespace cudanet {

namespace {

constexpr std::size_t kCpuAlignment = 64;
constexpr std::size_t kMaxCpuRequest = std::size_t{1} << 48;  // more than any machine has

// 64-byte aligned host memory, sizes rounded up to a multiple of 64 B so that vector loads of a
// buffer's tail stay inside it.
class CpuAllocator final : public Allocator {
 public:
  DataPtr allocate(std::size_t nbytes, const Stream& stream) override {
    (void)stream;
    if (nbytes == 0) return {};
    void* ptr = nullptr;
    const bool fits = nbytes <= kMaxCpuRequest;
    const std::size_t size = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    if (!fits || posix_memalign(&ptr, kCpuAlignment, size) != 0) {
      throw OutOfMemoryError(detail::str("out of memory: tried to allocate ", format_bytes(nbytes),
                                         " (", nbytes, " bytes) of CPU memory"),
                             __FILE__, __LINE__, nbytes);
    }
    return DataPtr(ptr, nullptr, &CpuAllocator::deleter, Device::cpu());
  }

 private:
  static void deleter(void*, void* ptr) noexcept { std::free(ptr); }
};

}  // namespace

bool cpu_caching_disabled() {
  const char* env = std::getenv("CUDANET_NO_CACHING");
  return env != nullptr && *env != '\0' && std::string(env) != "0";
}

// Note: CPU tensors come from a cache of freed blocks by power-of-two size class (the host
// caching allocator of core/pinned_allocator.h over 64-byte aligned memory): a training step
// allocates the same sizes every time, and fresh large allocations cost page faults. With
// CUDANET_NO_CACHING=1 every tensor is its own posix_memalign, so memory checkers see each one.
Allocator& cpu_allocator() {
  // Leaked: outlives every DataPtr.
  static Allocator* const allocator =
      cpu_caching_disabled()
          ? static_cast<Allocator*>(new CpuAllocator())
          : static_cast<Allocator*>(new HostCachingAllocator(make_aligned_host_backend()));
  return *allocator;
}

HostCacheStats cpu_memory_stats() {
  auto* caching = dynamic_cast<HostCachingAllocator*>(&cpu_allocator());
  return caching != nullptr ? caching->stats() : HostCacheStats{};
}

void reset_cpu_peak_memory_stats() {
  if (auto* caching = dynamic_cast<HostCachingAllocator*>(&cpu_allocator())) {
    caching->reset_peak_stats();
  }
}

Allocator& get_allocator(Device device) {
  if (device.is_cpu()) return cpu_allocator();
  return cuda::caching_allocator(device.index());
}

#if !CUDANET_WITH_CUDA
// Without CUDA there is no device: require_device throws CudaError naming the reason.
namespace cuda {
namespace {
[[noreturn]] void no_device(int device) {
  require_device(device);
  CUDANET_THROW(CudaError, "CUDA device ", device, " requested: cudanet was built without CUDA");
}
}  // namespace
Allocator& caching_allocator(int device) {
  no_device(device);
}
MemoryStats memory_stats(int device) {
  no_device(device);
}
void reset_peak_memory_stats(int device) {
  no_device(device);
}
void empty_cache(int device) {
  no_device(device);
}
std::string memory_summary(int device) {
  no_device(device);
}
bool caching_disabled(int device) {
  no_device(device);
}
void retain_stream_segments(const Stream& stream) {
  no_device(stream.device().index());
}
void release_stream_segments(const Stream& stream) {
  no_device(stream.device().index());
}
}  // namespace cuda
#endif

}  // namespace cudanet
