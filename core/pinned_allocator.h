// The pinned host allocator: cached page-locked (cudaHostAlloc) memory for fast, asynchronous
// host-to-device copies, e.g. the batches a data loader hands to the copy stream.
//
// Note: the invariants of HostCachingAllocator.
//  - A request is rounded up to a power of two (at least 512 B), its size class. A freed block is
//    cached and handed out again for a request of the same size class, on any stream; blocks are
//    never split or merged.
//  - A block is "used" on the CUDA stream it was allocated for and on every stream passed to
//    record_stream. When freed, it is reused only after an event recorded on each such stream at
//    free time has completed (pending events are polled on every allocation), so an asynchronous
//    copy still reading it cannot see it overwritten. CPU streams are synchronous and ignored.
//  - When the backend cannot supply a block, every cached block is returned to it and the
//    request is retried once; then OutOfMemoryError is thrown.
//  - pinned_allocator() uses cudaHostAlloc when a GPU is available. In a CPU-only build, or on a
//    machine without a GPU, it falls back to ordinary 64-byte aligned host memory (same caching,
//    stats().pinned == false): nothing could copy from it asynchronously anyway.
//  - Thread-safe (one mutex); the allocator must outlive its DataPtrs (pinned_allocator() is
//    never destroyed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/allocator.h"

namespace cudanet {

// Host memory and stream events, as HostCachingAllocator needs them.
class HostMemoryBackend {
 public:
  using EventId = std::uintptr_t;
  virtual ~HostMemoryBackend() = default;
  // `nbytes` of host memory aligned to at least 64 B, or nullptr when none is left; other
  // failures throw.
  virtual void* malloc(std::size_t nbytes) = 0;
  virtual void free(void* ptr) = 0;
  // Records an event on the CUDA stream `stream`: it completes when the work queued there so far
  // has finished.
  virtual EventId record_event(const Stream& stream) = 0;
  virtual bool event_done(EventId event) = 0;
  virtual void release_event(EventId event) = 0;
  // True when the memory is page-locked (cudaHostAlloc).
  virtual bool pinned() const = 0;
};

// The fallback backend: 64-byte aligned ordinary host memory; it has no streams to wait for.
std::unique_ptr<HostMemoryBackend> make_aligned_host_backend();

struct HostCacheStats {
  std::int64_t allocations = 0;           // blocks held by users
  std::int64_t allocated_bytes = 0;       // their size-class bytes
  std::int64_t requested_bytes = 0;       // the bytes users asked for (before size classes)
  std::int64_t peak_allocated_bytes = 0;  // maxima since creation or reset_peak_stats()
  std::int64_t peak_requested_bytes = 0;
  std::int64_t cached_bytes = 0;           // free blocks ready for reuse
  std::int64_t awaiting_events_bytes = 0;  // freed blocks still used by a stream
  std::int64_t reserved_bytes = 0;         // held from the backend
  std::int64_t num_backend_mallocs = 0;
  std::int64_t num_backend_frees = 0;
  bool pinned = false;  // page-locked memory (false for the aligned-host fallback)
};

class HostCachingAllocator final : public Allocator {
 public:
  static constexpr std::size_t kMinBlockSize = 512;

  explicit HostCachingAllocator(std::unique_ptr<HostMemoryBackend> backend);
  // Returns every block to the backend; blocks still held by users become invalid.
  ~HostCachingAllocator() override;
  HostCachingAllocator(const HostCachingAllocator&) = delete;
  HostCachingAllocator& operator=(const HostCachingAllocator&) = delete;

  // Host memory (DataPtr device: CPU) for use on `stream`.
  DataPtr allocate(std::size_t nbytes, const Stream& stream) override;
  void record_stream(void* ptr, const Stream& stream) override;
  // Returns every cached (free, unused) block to the backend.
  void empty_cache();
  HostCacheStats stats() const;
  // Starts the peaks afresh from the current values.
  void reset_peak_stats();
  static std::size_t size_class(std::size_t nbytes);

 private:
  struct Block {
    std::size_t size = 0;
    bool in_use = false;
    int pending_events = 0;
    std::vector<Stream> streams;  // CUDA streams the block is used on
    std::size_t requested = 0;    // the user's bytes while in use
  };
  struct PendingEvent {
    HostMemoryBackend::EventId event;
    void* ptr;
  };
  static void deleter(void* context, void* ptr) noexcept;
  void free(void* ptr);
  void process_events();
  void release_cached();
  void add_use(Block& block, const Stream& stream);
  [[noreturn]] void throw_out_of_memory(std::size_t nbytes) const;

  std::unique_ptr<HostMemoryBackend> backend_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> blocks_;           // every block held from the backend
  std::map<std::size_t, std::vector<void*>> cached_;  // free blocks by size class
  std::vector<PendingEvent> pending_;
  HostCacheStats stats_;
};

// The process-wide pinned host allocator (see the note above for its fallback).
Allocator& pinned_allocator();
HostCacheStats pinned_memory_stats();
// The same statistics of the CPU tensor allocator (core/allocator.h's cpu_allocator()): what a
// CPU run holds now and at most, e.g. over one training step. All zero with CUDANET_NO_CACHING=1
// (tensors then bypass the cache).
HostCacheStats cpu_memory_stats();
void reset_cpu_peak_memory_stats();
void pinned_empty_cache();

}  // namespace cudanet
