// Allocator: where tensor memory comes from.
//
// An Allocator hands out owning DataPtrs. A DataPtr is move-only (an accidental copy of device
// memory does not compile) and returns its memory to the allocator that made it when destroyed.
//
// Note: every allocator is process-wide and outlives the DataPtrs it made; get_allocator()
// returns the CPU allocator (64-byte aligned), the pinned host allocator, or the CUDA caching
// allocator of a device.
#pragma once

#include <cstddef>
#include <utility>

#include "core/device.h"
#include "core/stream.h"

namespace cudanet {

class DataPtr {
 public:
  using DeleterFn = void (*)(void* context, void* ptr) noexcept;

  DataPtr() = default;
  DataPtr(void* ptr, void* context, DeleterFn deleter, Device device)
      : ptr_(ptr), context_(context), deleter_(deleter), device_(device) {}
  ~DataPtr() { release(); }
  DataPtr(DataPtr&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)),
        context_(o.context_),
        deleter_(std::exchange(o.deleter_, nullptr)),
        device_(o.device_) {}
  DataPtr& operator=(DataPtr&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      context_ = o.context_;
      deleter_ = std::exchange(o.deleter_, nullptr);
      device_ = o.device_;
    }
    return *this;
  }
  DataPtr(const DataPtr&) = delete;
  DataPtr& operator=(const DataPtr&) = delete;

  void* get() const { return ptr_; }
  Device device() const { return device_; }
  explicit operator bool() const { return ptr_ != nullptr; }

 private:
  void release() noexcept {
    if (ptr_ != nullptr && deleter_ != nullptr) deleter_(context_, ptr_);
    ptr_ = nullptr;
  }
  void* ptr_ = nullptr;
  void* context_ = nullptr;
  DeleterFn deleter_ = nullptr;
  Device device_;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Allocates `nbytes` (0 gives an empty DataPtr) for use on `stream`. Throws
  // OutOfMemoryError when the memory cannot be had.
  virtual DataPtr allocate(std::size_t nbytes, const Stream& stream) = 0;
  // Declares that the memory at `ptr` (from this allocator) is also used on `stream`: it is not
  // reused until the work queued there so far has finished. A no-op for host memory.
  virtual void record_stream(void* ptr, const Stream& stream) {
    (void)ptr;
    (void)stream;
  }
};

// The 64-byte aligned host allocator.
Allocator& cpu_allocator();
// The allocator of `device`'s memory: cpu_allocator() or that GPU's caching allocator.
Allocator& get_allocator(Device device);

}  // namespace cudanet
