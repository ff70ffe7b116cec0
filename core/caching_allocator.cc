#include "core/caching_allocator.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <tuple>
#include <utility>

#include "core/error.h"

namespace cudanet {

namespace {

std::size_t round_up(std::size_t n, std::size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return detail::str(bytes, " B");
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f %s", value, kUnits[unit]);
  return text;
}

bool CachingAllocatorCore::BlockOrder::operator()(const Block* a, const Block* b) const {
  return std::tie(a->stream, a->size, a->ptr) < std::tie(b->stream, b->size, b->ptr);
}

CachingAllocatorCore::CachingAllocatorCore(RawMemoryBackend& backend,
                                           CachingAllocatorOptions options)
    : backend_(backend), options_(std::move(options)) {}

CachingAllocatorCore::~CachingAllocatorCore() {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    wait_for_pending_events();
    while (!segments_.empty()) release_segment(segments_.begin()->second);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cudanet: %s allocator teardown failed: %s\n", options_.name.c_str(),
                 e.what());
  }
}

std::size_t CachingAllocatorCore::round_size(std::size_t nbytes) {
  return nbytes < kMinBlockSize ? kMinBlockSize : round_up(nbytes, kMinBlockSize);
}

std::size_t CachingAllocatorCore::segment_size(std::size_t size) {
  if (size <= kSmallSize) return kSmallBuffer;
  if (size < kMinLargeAlloc) return kLargeBuffer;
  return round_up(size, kRoundLarge);
}

void CachingAllocatorCore::grow(MemoryStat& stat, std::int64_t amount) {
  stat.current += amount;
  stat.peak = std::max(stat.peak, stat.current);
}

void* CachingAllocatorCore::malloc(std::size_t nbytes, std::uintptr_t stream) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (nbytes > kMaxRequest) throw_out_of_memory(nbytes, nbytes);
  if (!awaiting_capture_.empty()) record_deferred_events();
  if (num_pending_ > 0) process_events();

  Block* block = nullptr;
  if (options_.bypass) {
    block = allocate_segment(nbytes, nbytes, /*small=*/false, stream);
  } else {
    const std::size_t size = round_size(nbytes);
    const bool small = size <= kSmallSize;
    block = find_free_block(small, size, stream);
    if (block == nullptr) block = allocate_segment(nbytes, segment_size(size), small, stream);
    split_block(block, size);
  }
  block->state = BlockState::kAllocated;
  block->requested = options_.bypass ? nbytes : round_size(nbytes);
  live_blocks_.emplace(block->ptr, block);
  grow(stats_.allocated_bytes, static_cast<std::int64_t>(block->requested));
  grow(stats_.allocated_blocks, 1);
  grow(stats_.active_bytes, static_cast<std::int64_t>(block->size));
  grow(stats_.active_blocks, 1);
  return block->ptr;
}

CachingAllocatorCore::Block* CachingAllocatorCore::find_free_block(bool small, std::size_t size,
                                                                   std::uintptr_t stream) {
  Pool& pool = pool_of(small);
  Block key;
  key.stream = stream;
  key.size = size;
  const auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* block = *it;
  pool.erase(it);
  return block;
}

// A block (in no pool) to carve the user's request of `nbytes` from: a new segment of `bytes`; when
// the backend is full, a block freed by waiting for pending events, or a new segment after the
// cache was flushed. Throws OutOfMemoryError when all of that fails.
CachingAllocatorCore::Block* CachingAllocatorCore::allocate_segment(std::size_t nbytes,
                                                                    std::size_t bytes, bool small,
                                                                    std::uintptr_t stream) {
  void* ptr = backend_.malloc(bytes);
  if (ptr == nullptr && backend_.capturing(stream)) {
    throw_out_of_memory(
        nbytes, bytes,
        "; a CUDA graph capture was recording the stream, so the cache was not flushed (that "
        "would invalidate the capture): capture after eager steps have filled the cache, or use a "
        "smaller batch");
  }
  if (ptr == nullptr) {
    ++stats_.num_alloc_retries;
    wait_for_pending_events();
    if (!options_.bypass) {
      // Waiting for the events may have returned a block that fits.
      Block* block = find_free_block(small, round_size(nbytes), stream);
      if (block != nullptr) return block;
    }
    release_free_segments();
    ptr = backend_.malloc(bytes);
    if (ptr == nullptr) throw_out_of_memory(nbytes, bytes);
  }
  auto* block = new Block;
  block->ptr = static_cast<char*>(ptr);
  block->size = bytes;
  block->stream = stream;
  block->small = small;
  segments_.emplace(block->ptr, block);
  ++stats_.num_backend_mallocs;
  grow(stats_.reserved_bytes, static_cast<std::int64_t>(bytes));
  grow(stats_.segments, 1);
  return block;
}

void CachingAllocatorCore::throw_out_of_memory(std::size_t nbytes, std::size_t segment_bytes,
                                               const std::string& note) {
  ++stats_.num_ooms;
  std::string device = "unknown";
  try {
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    backend_.mem_info(&free_bytes, &total_bytes);
    device =
        detail::str("device total ", format_bytes(total_bytes), " (", total_bytes,
                    " bytes), device free ", format_bytes(free_bytes), " (", free_bytes, " bytes)");
  } catch (const std::exception& e) {
    device = detail::str("device memory unknown (", e.what(), ")");
  }
  const auto allocated = static_cast<std::uint64_t>(stats_.allocated_bytes.current);
  const auto reserved = static_cast<std::uint64_t>(stats_.reserved_bytes.current);
  throw OutOfMemoryError(
      detail::str("out of memory on ", options_.name, ": tried to allocate ", format_bytes(nbytes),
                  " (", nbytes, " bytes; backend request ", segment_bytes, " bytes); ", device,
                  "; allocated by cudanet ", format_bytes(allocated), " (", allocated,
                  " bytes), reserved by cudanet ", format_bytes(reserved), " (", reserved,
                  " bytes), of which ", format_bytes(reserved - allocated),
                  " is cached or awaiting stream events", note),
      __FILE__, __LINE__, nbytes);
}

void CachingAllocatorCore::split_block(Block* block, std::size_t size) {
  const std::size_t remaining = block->size - size;
  const bool split = block->small ? remaining >= kMinBlockSize : remaining > kSmallSize;
  if (!split) return;
  auto* rest = new Block;
  rest->ptr = block->ptr + size;
  rest->size = remaining;
  rest->stream = block->stream;
  rest->small = block->small;
  rest->prev = block;
  rest->next = block->next;
  if (rest->next != nullptr) rest->next->prev = rest;
  block->next = rest;
  block->size = size;
  pool_of(rest->small).insert(rest);
}

void CachingAllocatorCore::free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_blocks_.find(ptr);
  CUDANET_CHECK(it != live_blocks_.end(), ValueError, options_.name,
                " allocator: free of a pointer it did not allocate (or freed twice): ", ptr);
  Block* block = it->second;
  // A stream that used the block is being captured: an event recorded there now would be a node
  // of the graph, not an event, and polling it would invalidate the capture. The events wait
  // until that capture has ended (record_deferred_events).
  const bool capture = used_by_capture(block);
  // Record the events first: if that throws, the block stays allocated and consistent.
  std::vector<PendingEvent> events;
  if (!capture) events = record_stream_use_events(block);
  live_blocks_.erase(it);
  stats_.allocated_bytes.current -= static_cast<std::int64_t>(block->requested);
  stats_.allocated_blocks.current -= 1;
  if (capture) {
    block->state = BlockState::kAwaitingCapture;
    awaiting_capture_.push_back(block);
  } else if (events.empty()) {
    return_block(block);
  } else {
    await_events(block, events);
  }
}

std::vector<CachingAllocatorCore::PendingEvent> CachingAllocatorCore::record_stream_use_events(
    Block* block) {
  std::vector<PendingEvent> events;
  try {
    for (std::uintptr_t s : block->stream_uses) events.push_back({backend_.record_event(s), block});
  } catch (...) {
    for (const PendingEvent& e : events) backend_.release_event(e.event);
    throw;
  }
  return events;
}

void CachingAllocatorCore::await_events(Block* block, const std::vector<PendingEvent>& events) {
  block->state = BlockState::kAwaitingEvents;
  block->pending_events = static_cast<int>(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    pending_[block->stream_uses[i]].push_back(events[i]);
  }
  num_pending_ += events.size();
}

bool CachingAllocatorCore::used_by_capture(const Block* block) {
  return std::any_of(block->stream_uses.begin(), block->stream_uses.end(),
                     [this](std::uintptr_t s) { return backend_.capturing(s); });
}

void CachingAllocatorCore::record_deferred_events() {
  std::vector<Block*> waiting;
  for (std::size_t i = 0; i < awaiting_capture_.size(); ++i) {
    Block* block = awaiting_capture_[i];
    if (used_by_capture(block)) {
      waiting.push_back(block);
      continue;
    }
    std::vector<PendingEvent> events;
    try {
      events = record_stream_use_events(block);
    } catch (...) {
      // Nothing was recorded for this block: it and the ones after it go on waiting.
      waiting.insert(waiting.end(), awaiting_capture_.begin() + static_cast<std::ptrdiff_t>(i),
                     awaiting_capture_.end());
      awaiting_capture_.swap(waiting);
      throw;
    }
    await_events(block, events);
  }
  awaiting_capture_.swap(waiting);
}

void CachingAllocatorCore::return_block(Block* block) {
  stats_.active_bytes.current -= static_cast<std::int64_t>(block->size);
  stats_.active_blocks.current -= 1;
  block->stream_uses.clear();
  block->state = BlockState::kFree;
  if (options_.bypass) {
    release_segment(block);
    return;
  }
  Pool& pool = pool_of(block->small);
  if (Block* next = block->next; next != nullptr && next->state == BlockState::kFree) {
    pool.erase(next);
    block->size += next->size;
    block->next = next->next;
    if (block->next != nullptr) block->next->prev = block;
    delete next;
  }
  if (Block* prev = block->prev; prev != nullptr && prev->state == BlockState::kFree) {
    // Merge into the lower block, so that a segment's first block never changes.
    pool.erase(prev);
    prev->size += block->size;
    prev->next = block->next;
    if (prev->next != nullptr) prev->next->prev = prev;
    delete block;
    block = prev;
  }
  pool.insert(block);
}

void CachingAllocatorCore::record_stream(void* ptr, std::uintptr_t stream) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_blocks_.find(ptr);
  CUDANET_CHECK(it != live_blocks_.end(), ValueError, options_.name,
                " allocator: record_stream on a pointer it did not allocate: ", ptr);
  Block* block = it->second;
  if (stream == block->stream) return;
  auto& uses = block->stream_uses;
  if (std::find(uses.begin(), uses.end(), stream) == uses.end()) uses.push_back(stream);
}

// Returns a whole segment (its first block, all blocks free or the segment unused) to the backend.
void CachingAllocatorCore::release_segment(Block* head) {
  std::size_t bytes = 0;
  for (Block* b = head; b != nullptr;) {
    Block* next = b->next;
    if (b->state == BlockState::kFree) pool_of(b->small).erase(b);
    bytes += b->size;
    if (b != head) delete b;
    b = next;
  }
  segments_.erase(head->ptr);
  char* ptr = head->ptr;
  delete head;
  backend_.free(ptr);
  ++stats_.num_backend_frees;
  stats_.reserved_bytes.current -= static_cast<std::int64_t>(bytes);
  stats_.segments.current -= 1;
}

// Events on one stream complete in order: stop at the first one still running.
void CachingAllocatorCore::process_events() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    std::deque<PendingEvent>& queue = it->second;
    while (!queue.empty() && backend_.event_done(queue.front().event)) {
      const PendingEvent done = queue.front();
      queue.pop_front();
      --num_pending_;
      backend_.release_event(done.event);
      if (--done.block->pending_events == 0) return_block(done.block);
    }
    it = queue.empty() ? pending_.erase(it) : std::next(it);
  }
}

void CachingAllocatorCore::wait_for_pending_events() {
  if (num_pending_ == 0) return;
  backend_.synchronize();
  for (auto& [stream, queue] : pending_) {
    for (const PendingEvent& e : queue) {
      backend_.release_event(e.event);
      if (--e.block->pending_events == 0) return_block(e.block);
    }
  }
  pending_.clear();
  num_pending_ = 0;
}

void CachingAllocatorCore::release_free_segments() {
  std::vector<Block*> unused;
  for (const auto& [base, head] : segments_) {
    if (head->state == BlockState::kFree && head->next == nullptr &&
        retained_streams_.count(head->stream) == 0) {
      unused.push_back(head);
    }
  }
  for (Block* head : unused) release_segment(head);
}

void CachingAllocatorCore::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!awaiting_capture_.empty()) record_deferred_events();
  wait_for_pending_events();
  release_free_segments();
}

void CachingAllocatorCore::retain_stream_segments(std::uintptr_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++retained_streams_[stream];
}

void CachingAllocatorCore::release_stream_segments(std::uintptr_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = retained_streams_.find(stream);
  CUDANET_CHECK(it != retained_streams_.end(), ValueError, options_.name,
                " allocator: release_stream_segments of a stream that is not retained");
  if (--it->second == 0) retained_streams_.erase(it);
}

MemoryStats CachingAllocatorCore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocatorCore::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (MemoryStat* s : {&stats_.allocated_bytes, &stats_.allocated_blocks, &stats_.active_bytes,
                        &stats_.active_blocks, &stats_.reserved_bytes, &stats_.segments}) {
    s->peak = s->current;
  }
}

std::string CachingAllocatorCore::memory_summary() const {
  const MemoryStats s = stats();
  std::string out;
  char line[128];
  const char* const kRule = "|--------------------+--------------+--------------|\n";
  auto row = [&](const char* label, const MemoryStat& stat, bool bytes) {
    const auto cur = static_cast<std::uint64_t>(stat.current);
    const auto peak = static_cast<std::uint64_t>(stat.peak);
    std::snprintf(line, sizeof(line), "| %-18s | %12s | %12s |\n", label,
                  (bytes ? format_bytes(cur) : std::to_string(cur)).c_str(),
                  (bytes ? format_bytes(peak) : std::to_string(peak)).c_str());
    out += line;
  };
  out += detail::str("cudanet caching allocator: ", options_.name,
                     options_.bypass ? " (bypass: no caching)" : "", "\n");
  out += kRule;
  out += "| metric             |      current |         peak |\n";
  out += kRule;
  row("allocated memory", s.allocated_bytes, true);
  row("allocated blocks", s.allocated_blocks, false);
  row("active memory", s.active_bytes, true);
  row("active blocks", s.active_blocks, false);
  row("reserved memory", s.reserved_bytes, true);
  row("segments", s.segments, false);
  out += kRule;
  const auto cached = static_cast<std::uint64_t>(s.reserved_bytes.current - s.active_bytes.current);
  std::snprintf(line, sizeof(line), "| %-18s | %27s |\n", "cached, unused",
                format_bytes(cached).c_str());
  out += line;
  std::snprintf(line, sizeof(line), "| %-18s | %12" PRId64 " | %12" PRId64 " |\n",
                "backend malloc/free", s.num_backend_mallocs, s.num_backend_frees);
  out += line;
  std::snprintf(line, sizeof(line), "| %-18s | %12" PRId64 " | %12" PRId64 " |\n", "retries / OOMs",
                s.num_alloc_retries, s.num_ooms);
  out += line;
  out += kRule;
  return out;
}

void CachingAllocatorCore::check_invariants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto fail = [&](const std::string& what) {
    CUDANET_THROW(Error, options_.name, " allocator invariant violated: ", what);
  };
  std::int64_t reserved = 0, allocated = 0, active = 0, allocated_blocks = 0, active_blocks = 0;
  std::size_t free_blocks = 0, pending = 0, awaiting_capture = 0;
  const char* previous_end = nullptr;
  for (const auto& [base, head] : segments_) {
    if (head->prev != nullptr || head->ptr != base) fail("segment map out of date");
    if (previous_end != nullptr && base < previous_end) fail("segments overlap");
    const char* end = base;
    for (const Block* b = head; b != nullptr; b = b->next) {
      if (b->ptr != end) fail("blocks of a segment do not tile it");
      if (b->stream != head->stream || b->small != head->small) fail("mixed stream or pool");
      if (!options_.bypass && b->size % kMinBlockSize != 0) fail("block size not rounded");
      if (b->next != nullptr && b->next->prev != b) fail("broken neighbour links");
      const bool in_pool = pool_of(b->small).count(const_cast<Block*>(b)) == 1;
      if (in_pool != (b->state == BlockState::kFree)) fail("pool membership disagrees with state");
      if (b->state == BlockState::kFree) {
        ++free_blocks;
        if (b->next != nullptr && b->next->state == BlockState::kFree) fail("unmerged free blocks");
      } else {
        active += static_cast<std::int64_t>(b->size);
        ++active_blocks;
      }
      if (b->state == BlockState::kAllocated) {
        allocated += static_cast<std::int64_t>(b->requested);
        ++allocated_blocks;
        if (b->requested > b->size) fail("block smaller than its request");
        if (live_blocks_.count(b->ptr) != 1) fail("allocated block not in the live map");
      }
      if (b->state == BlockState::kAwaitingEvents) {
        if (b->pending_events <= 0) fail("block awaits no events");
        pending += static_cast<std::size_t>(b->pending_events);
      }
      if (b->state == BlockState::kAwaitingCapture) ++awaiting_capture;
      end += b->size;
    }
    reserved += end - base;
    previous_end = end;
  }
  if (free_blocks != small_pool_.size() + large_pool_.size()) fail("pools hold stray blocks");
  if (pending != num_pending_) fail("pending event count");
  if (awaiting_capture != awaiting_capture_.size()) fail("blocks awaiting a capture's end");
  if (static_cast<std::size_t>(allocated_blocks) != live_blocks_.size()) fail("live map size");
  if (reserved != stats_.reserved_bytes.current) fail("reserved_bytes");
  if (allocated != stats_.allocated_bytes.current) fail("allocated_bytes");
  if (allocated_blocks != stats_.allocated_blocks.current) fail("allocated_blocks");
  if (active != stats_.active_bytes.current) fail("active_bytes");
  if (active_blocks != stats_.active_blocks.current) fail("active_blocks");
  if (static_cast<std::int64_t>(segments_.size()) != stats_.segments.current) fail("segments");
}

}  // namespace cudanet
