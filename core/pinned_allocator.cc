#include "core/pinned_allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/caching_allocator.h"
#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

#if CUDANET_WITH_CUDA
#include "core/cuda/pinned_backend.h"
#endif

namespace cudanet {

namespace {

constexpr std::size_t kMaxHostRequest = std::size_t{1} << 48;  // more than any machine has

class AlignedHostBackend final : public HostMemoryBackend {
 public:
  void* malloc(std::size_t nbytes) override {
    void* ptr = nullptr;
    return posix_memalign(&ptr, 64, nbytes) == 0 ? ptr : nullptr;
  }
  void free(void* ptr) override { std::free(ptr); }
  EventId record_event(const Stream&) override { return 0; }
  bool event_done(EventId) override { return true; }
  void release_event(EventId) override {}
  bool pinned() const override { return false; }
};

}  // namespace

std::unique_ptr<HostMemoryBackend> make_aligned_host_backend() {
  return std::make_unique<AlignedHostBackend>();
}

HostCachingAllocator::HostCachingAllocator(std::unique_ptr<HostMemoryBackend> backend)
    : backend_(std::move(backend)) {
  stats_.pinned = backend_->pinned();
}

HostCachingAllocator::~HostCachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    for (const PendingEvent& e : pending_) backend_->release_event(e.event);
    for (const auto& [ptr, block] : blocks_) backend_->free(ptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cudanet: host allocator teardown failed: %s\n", e.what());
  }
}

std::size_t HostCachingAllocator::size_class(std::size_t nbytes) {
  std::size_t size = kMinBlockSize;
  while (size < nbytes) size *= 2;
  return size;
}

DataPtr HostCachingAllocator::allocate(std::size_t nbytes, const Stream& stream) {
  if (nbytes == 0) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  if (nbytes > kMaxHostRequest) throw_out_of_memory(nbytes);
  if (!pending_.empty()) process_events();
  const std::size_t size = size_class(nbytes);
  void* ptr = nullptr;
  auto cached = cached_.find(size);
  if (cached != cached_.end() && !cached->second.empty()) {
    ptr = cached->second.back();
    cached->second.pop_back();
    stats_.cached_bytes -= static_cast<std::int64_t>(size);
  } else {
    ptr = backend_->malloc(size);
    if (ptr == nullptr) {
      release_cached();
      ptr = backend_->malloc(size);
    }
    if (ptr == nullptr) throw_out_of_memory(nbytes);
    blocks_.emplace(ptr, Block{size, false, 0, {}});
    ++stats_.num_backend_mallocs;
    stats_.reserved_bytes += static_cast<std::int64_t>(size);
  }
  Block& block = blocks_.at(ptr);
  block.in_use = true;
  block.requested = nbytes;
  add_use(block, stream);
  ++stats_.allocations;
  stats_.allocated_bytes += static_cast<std::int64_t>(size);
  stats_.requested_bytes += static_cast<std::int64_t>(nbytes);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  stats_.peak_requested_bytes = std::max(stats_.peak_requested_bytes, stats_.requested_bytes);
  return DataPtr(ptr, this, &HostCachingAllocator::deleter, Device::cpu());
}

void HostCachingAllocator::throw_out_of_memory(std::size_t nbytes) const {
  throw OutOfMemoryError(
      detail::str("out of memory: tried to allocate ", format_bytes(nbytes), " (", nbytes,
                  " bytes) of ", stats_.pinned ? "pinned host" : "CPU", " memory; ",
                  format_bytes(static_cast<std::uint64_t>(stats_.reserved_bytes)),
                  " held by the host allocator, all of it in use or awaiting stream events"),
      __FILE__, __LINE__, nbytes);
}

void HostCachingAllocator::add_use(Block& block, const Stream& stream) {
  if (stream.device().is_cpu()) return;
  if (std::find(block.streams.begin(), block.streams.end(), stream) == block.streams.end()) {
    block.streams.push_back(stream);
  }
}

void HostCachingAllocator::record_stream(void* ptr, const Stream& stream) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = blocks_.find(ptr);
  CUDANET_CHECK(it != blocks_.end() && it->second.in_use, ValueError,
                "record_stream on a pointer the host allocator did not allocate: ", ptr);
  add_use(it->second, stream);
}

void HostCachingAllocator::deleter(void* context, void* ptr) noexcept {
  try {
    static_cast<HostCachingAllocator*>(context)->free(ptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cudanet: freeing host block %p failed (ignored in a deleter): %s\n", ptr,
                 e.what());
  }
}

void HostCachingAllocator::free(void* ptr) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = blocks_.find(ptr);
  CUDANET_CHECK(it != blocks_.end() && it->second.in_use, ValueError,
                "free of a pointer the host allocator did not allocate: ", ptr);
  Block& block = it->second;
  std::vector<PendingEvent> events;
  try {
    for (const Stream& s : block.streams) events.push_back({backend_->record_event(s), ptr});
  } catch (...) {
    for (const PendingEvent& e : events) backend_->release_event(e.event);
    throw;
  }
  const auto size = static_cast<std::int64_t>(block.size);
  block.in_use = false;
  block.streams.clear();
  --stats_.allocations;
  stats_.allocated_bytes -= size;
  stats_.requested_bytes -= static_cast<std::int64_t>(block.requested);
  block.requested = 0;
  if (events.empty()) {
    cached_[block.size].push_back(ptr);
    stats_.cached_bytes += size;
    return;
  }
  block.pending_events = static_cast<int>(events.size());
  stats_.awaiting_events_bytes += size;
  pending_.insert(pending_.end(), events.begin(), events.end());
}

void HostCachingAllocator::process_events() {
  std::vector<PendingEvent> still_pending;
  for (const PendingEvent& e : pending_) {
    if (!backend_->event_done(e.event)) {
      still_pending.push_back(e);
      continue;
    }
    backend_->release_event(e.event);
    Block& block = blocks_.at(e.ptr);
    if (--block.pending_events == 0) {
      cached_[block.size].push_back(e.ptr);
      stats_.cached_bytes += static_cast<std::int64_t>(block.size);
      stats_.awaiting_events_bytes -= static_cast<std::int64_t>(block.size);
    }
  }
  pending_.swap(still_pending);
}

void HostCachingAllocator::release_cached() {
  for (auto& [size, ptrs] : cached_) {
    for (void* ptr : ptrs) {
      backend_->free(ptr);
      blocks_.erase(ptr);
      ++stats_.num_backend_frees;
      stats_.reserved_bytes -= static_cast<std::int64_t>(size);
      stats_.cached_bytes -= static_cast<std::int64_t>(size);
    }
  }
  cached_.clear();
}

void HostCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pending_.empty()) process_events();
  release_cached();
}

HostCacheStats HostCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void HostCachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_requested_bytes = stats_.requested_bytes;
}

namespace {
HostCachingAllocator& pinned_instance() {
  // Leaked on purpose: pinned batches may outlive static destruction.
  static auto* const allocator = new HostCachingAllocator([] {
#if CUDANET_WITH_CUDA
    if (cuda::is_available()) return cuda::make_pinned_host_backend();
#endif
    return make_aligned_host_backend();
  }());
  return *allocator;
}
}  // namespace

Allocator& pinned_allocator() {
  return pinned_instance();
}
HostCacheStats pinned_memory_stats() {
  return pinned_instance().stats();
}
void pinned_empty_cache() {
  pinned_instance().empty_cache();
}

}  // namespace cudanet
