// FakeBackend: a RawMemoryBackend of fixed capacity for testing and benchmarking the caching
// allocator on the CPU.
//
// It hands out non-overlapping fake addresses from a large virtual range (never reused, never
// dereferenced), fails a malloc that would exceed its capacity, and keeps fake events whose
// completion the test controls. Events on one stream complete in the order they were recorded,
// like CUDA's. Misuse (freeing an unknown address, querying a released event) throws
// std::logic_error so that a test sees it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/caching_allocator.h"

namespace cudanet::fakes {

class FakeBackend final : public RawMemoryBackend {
 public:
  static constexpr std::uintptr_t kBase = std::uintptr_t{1} << 44;  // start of the fake range
  static constexpr std::size_t kAlignment = 2 << 20;                // alignment of fake segments

  explicit FakeBackend(std::size_t capacity) : capacity_(capacity) {}

  void* malloc(std::size_t nbytes) override {
    ++malloc_calls_;
    if (nbytes > capacity_ - used_) return nullptr;
    const std::uintptr_t address = next_address_;
    next_address_ += (nbytes + kAlignment - 1) / kAlignment * kAlignment + kAlignment;  // a gap
    void* ptr = reinterpret_cast<void*>(address);
    live_.emplace(ptr, nbytes);
    used_ += nbytes;
    ++mallocs_;
    return ptr;
  }

  void free(void* ptr) override {
    const auto it = live_.find(ptr);
    if (it == live_.end()) throw std::logic_error("FakeBackend: free of an unknown address");
    used_ -= it->second;
    live_.erase(it);
    ++frees_;
  }

  void mem_info(std::size_t* free_bytes, std::size_t* total_bytes) override {
    *free_bytes = capacity_ - used_;
    *total_bytes = capacity_;
  }

  EventId record_event(std::uintptr_t stream) override {
    const EventId id = ++last_event_;
    events_.emplace(id, FakeEvent{stream, false});
    return id;
  }

  bool event_done(EventId event) override { return find(event).done; }

  void release_event(EventId event) override {
    find(event);
    events_.erase(event);
  }

  void synchronize() override {
    ++synchronizations_;
    complete_all_events();
  }

  bool capturing(std::uintptr_t stream) override {
    return capture_underway_ && stream == capturing_stream_;
  }

  // Test controls and observations.
  void complete_events(std::uintptr_t stream) {  // all work queued on `stream` so far finishes
    for (auto& [id, e] : events_) {
      if (e.stream == stream) e.done = true;
    }
  }
  void begin_capture(std::uintptr_t stream) {  // a graph capture records `stream` ...
    capture_underway_ = true;
    capturing_stream_ = stream;
  }
  void end_capture() { capture_underway_ = false; }  // ... until this
  void complete_all_events() {
    for (auto& [id, e] : events_) e.done = true;
  }
  std::size_t capacity() const { return capacity_; }
  std::size_t used_bytes() const { return used_; }  // held by the allocator
  std::size_t live_allocations() const { return live_.size(); }
  std::size_t live_events() const { return events_.size(); }   // recorded, not yet released
  std::int64_t mallocs() const { return mallocs_; }            // successful
  std::int64_t malloc_calls() const { return malloc_calls_; }  // including failed ones
  std::int64_t frees() const { return frees_; }
  std::int64_t synchronizations() const { return synchronizations_; }
  // The start of the live allocation holding all of [ptr, ptr + nbytes), nullptr if none.
  void* allocation_containing(const void* ptr, std::size_t nbytes) const {
    auto it = live_.upper_bound(const_cast<void*>(ptr));
    if (it == live_.begin()) return nullptr;
    --it;
    const auto base = reinterpret_cast<std::uintptr_t>(it->first);
    const auto start = reinterpret_cast<std::uintptr_t>(ptr);
    return start + nbytes <= base + it->second ? it->first : nullptr;
  }
  // The size of the live allocation at `ptr`, 0 if none.
  std::size_t allocation_size(void* ptr) const {
    const auto it = live_.find(ptr);
    return it == live_.end() ? 0 : it->second;
  }

 private:
  struct FakeEvent {
    std::uintptr_t stream;
    bool done;
  };
  FakeEvent& find(EventId event) {
    const auto it = events_.find(event);
    if (it == events_.end()) throw std::logic_error("FakeBackend: unknown or released event");
    return it->second;
  }

  std::size_t capacity_;
  std::size_t used_ = 0;
  std::uintptr_t next_address_ = kBase;
  std::map<void*, std::size_t> live_;
  std::map<EventId, FakeEvent> events_;
  EventId last_event_ = 0;
  std::int64_t mallocs_ = 0;
  std::int64_t malloc_calls_ = 0;
  std::int64_t frees_ = 0;
  std::int64_t synchronizations_ = 0;
  bool capture_underway_ = false;
  std::uintptr_t capturing_stream_ = 0;
};

}  // namespace cudanet::fakes
