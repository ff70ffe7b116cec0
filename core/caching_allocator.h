// CachingAllocatorCore: the pool logic of the CUDA caching allocator, as plain C++.
//
// The core hands out blocks carved from large "segments" that it obtains from a RawMemoryBackend
// (cudaMalloc for a GPU; a fake of fixed capacity in the tests) and keeps freed blocks cached for
// reuse, so that steady-state training makes no backend calls. PyTorch's CUDACachingAllocator is
// the reference design.
//
// Note: the invariants of the core.
//  - Every request is rounded up to a multiple of 512 B (kMinBlockSize); 0 bytes gives nullptr.
//  - Requests of at most 1 MiB come from the small pool, whose segments are 2 MiB; larger ones from
//    the large pool, whose segments are 20 MiB for requests under 10 MiB and otherwise the request
//    rounded up to 2 MiB. A block is only ever carved from, and returned to, its own pool.
//  - A request takes the smallest cached block of its stream that fits (best fit, ordered by
//    (stream, size, address)). The rest is split off as a free block when it is at least 512 B
//    (small pool) or more than 1 MiB (large pool).
//  - A freed block merges with its free neighbours in the same segment, so a segment whose blocks
//    are all free is a single block again.
//  - A block is reused only on the stream it was allocated on. After record_stream(ptr, s), a
//    freed block returns to the pool only once an event recorded on each such s at free time has
//    completed; pending events are polled on every malloc. If one of those streams is being
//    captured into a CUDA graph at free time, the events are recorded only once its capture has
//    ended (at a later malloc or empty_cache): an event recorded during the capture would be a
//    node of the graph, and querying it would invalidate the capture.
//  - When the backend cannot supply a segment, the core waits for all pending events (taking a
//    block they release if one fits), returns every fully free cached segment to the backend, and
//    tries once more (a "retry"); if that fails too it throws OutOfMemoryError stating requested /
//    device total / device free / allocated / reserved bytes. While a CUDA graph capture records
//    the requesting stream there is no retry (waiting and freeing would invalidate the capture):
//    the error comes at once and says why.
//  - Stats: allocated = the rounded requests of the blocks users hold; active = the full sizes of
//    those blocks (a large-pool block keeps a remainder of up to 1 MiB unsplit) plus freed blocks
//    still waiting for stream events; reserved = bytes held from the backend (segment sizes).
//  - retain_stream_segments(s) keeps every segment of stream s (present and future) from being
//    returned to the backend, by empty_cache() or by the flush before an out-of-memory retry,
//    until the matching release_stream_segments(s) (calls nest). A captured CUDA graph needs
//    this: its kernels keep the addresses of the blocks that were freed during the capture, and
//    between replays those blocks lie free in the pool, so a whole segment of them may look unused.
//  - Bypass mode sends every request straight to backend malloc / free with its exact size (so a
//    memory checker sees each allocation); stats and stream semantics stay the same.
//  - All public member functions are thread-safe (one mutex). The backend is called only with
//    that mutex held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace cudanet {

// Raw memory and stream events of one device, as the caching allocator needs them.
class RawMemoryBackend {
 public:
  using EventId = std::uintptr_t;
  virtual ~RawMemoryBackend() = default;

  // Returns `nbytes` of fresh memory (aligned to at least 256 B), or nullptr when the device has
  // not that much free; other failures throw.
  virtual void* malloc(std::size_t nbytes) = 0;
  virtual void free(void* ptr) = 0;
  // The device's free and total memory in bytes.
  virtual void mem_info(std::size_t* free_bytes, std::size_t* total_bytes) = 0;
  // Records an event on `stream` (a Stream::id()): it completes when the work queued there so far
  // has finished.
  virtual EventId record_event(std::uintptr_t stream) = 0;
  virtual bool event_done(EventId event) = 0;
  virtual void release_event(EventId event) = 0;
  // Waits for all work on the device.
  virtual void synchronize() = 0;
  // True when a CUDA graph capture is recording `stream`: then the device must not be
  // synchronised nor memory freed (either would invalidate the capture).
  virtual bool capturing(std::uintptr_t /*stream*/) { return false; }
};

// A statistic and its high-water mark since creation or the last reset_peak_stats().
struct MemoryStat {
  std::int64_t current = 0;
  std::int64_t peak = 0;
};

struct MemoryStats {
  MemoryStat allocated_bytes;   // rounded requests of the blocks held by users
  MemoryStat allocated_blocks;  // blocks held by users
  MemoryStat active_bytes;      // sizes of blocks held by users or waiting for stream events
  MemoryStat active_blocks;
  MemoryStat reserved_bytes;  // held from the backend
  MemoryStat segments;        // backend allocations held
  std::int64_t num_backend_mallocs = 0;
  std::int64_t num_backend_frees = 0;
  std::int64_t num_alloc_retries = 0;  // cache flushes after a failed backend malloc
  std::int64_t num_ooms = 0;           // OutOfMemoryErrors thrown
};

// "512 B", "1.50 KiB", "20.00 MiB", "1.00 GiB".
std::string format_bytes(std::uint64_t bytes);

struct CachingAllocatorOptions {
  std::string name = "device";  // names the device in messages, e.g. "cuda:0"
  bool bypass = false;          // no caching: every request goes to the backend
};

class CachingAllocatorCore {
 public:
  static constexpr std::size_t kMinBlockSize = 512;                 // rounding of every request
  static constexpr std::size_t kSmallSize = 1 << 20;                // largest small-pool request
  static constexpr std::size_t kSmallBuffer = 2 << 20;              // small-pool segment size
  static constexpr std::size_t kLargeBuffer = 20 << 20;             // large-pool segment size ...
  static constexpr std::size_t kMinLargeAlloc = 10 << 20;           // ... for requests below this
  static constexpr std::size_t kRoundLarge = 2 << 20;               // rounding of larger segments
  static constexpr std::size_t kMaxRequest = std::size_t{1} << 56;  // larger always fails

  // `backend` must outlive the core.
  explicit CachingAllocatorCore(RawMemoryBackend& backend, CachingAllocatorOptions options = {});
  // Returns every segment to the backend (after waiting for pending events). Blocks still held by
  // users become invalid: the core must outlive its allocations.
  ~CachingAllocatorCore();
  CachingAllocatorCore(const CachingAllocatorCore&) = delete;
  CachingAllocatorCore& operator=(const CachingAllocatorCore&) = delete;

  // Returns a block of at least `nbytes` for use on `stream` (nullptr for 0 bytes). Throws
  // OutOfMemoryError when even a flushed cache cannot make room.
  void* malloc(std::size_t nbytes, std::uintptr_t stream);
  // Returns a block from malloc (nullptr is ignored); throws ValueError for an unknown pointer.
  void free(void* ptr);
  // Marks the live block at `ptr` as also used on `stream`; see the note above.
  void record_stream(void* ptr, std::uintptr_t stream);

  // Waits for pending events and returns every fully free segment to the backend (except those
  // of retained streams).
  void empty_cache();
  // See the note above: the segments of `stream` stay reserved while it is retained.
  void retain_stream_segments(std::uintptr_t stream);
  // Undoes one retain_stream_segments(stream); throws ValueError when it was not retained.
  void release_stream_segments(std::uintptr_t stream);
  MemoryStats stats() const;
  void reset_peak_stats();
  // A readable multi-line table of the statistics.
  std::string memory_summary() const;

  bool bypass() const { return options_.bypass; }
  const std::string& name() const { return options_.name; }
  // The usable size of the block returned for an `nbytes` request (caching mode).
  static std::size_t round_size(std::size_t nbytes);
  // The size of the segment allocated for a rounded request of `size` bytes.
  static std::size_t segment_size(std::size_t size);

  // Checks the internal structure (segments tile exactly, no two free neighbours, pools and
  // statistics agree); throws Error describing the first violation. For tests: O(blocks).
  void check_invariants() const;

 private:
  // kAwaitingCapture: freed while a stream in stream_uses was being captured; its events are
  // recorded once no such capture is under way, then it awaits them.
  enum class BlockState : std::uint8_t { kFree, kAllocated, kAwaitingEvents, kAwaitingCapture };
  struct Block {
    char* ptr = nullptr;
    std::size_t size = 0;
    std::size_t requested = 0;  // while allocated: the rounded request (size may add slack)
    std::uintptr_t stream = 0;
    bool small = false;  // pool
    BlockState state = BlockState::kFree;
    int pending_events = 0;
    Block* prev = nullptr;  // neighbours in the segment
    Block* next = nullptr;
    std::vector<std::uintptr_t> stream_uses;  // other streams, from record_stream
  };
  struct BlockOrder {
    bool operator()(const Block* a, const Block* b) const;
  };
  using Pool = std::set<Block*, BlockOrder>;
  struct PendingEvent {
    RawMemoryBackend::EventId event;
    Block* block;
  };

  Pool& pool_of(bool small) { return small ? small_pool_ : large_pool_; }
  const Pool& pool_of(bool small) const { return small ? small_pool_ : large_pool_; }
  Block* find_free_block(bool small, std::size_t size, std::uintptr_t stream);
  Block* allocate_segment(std::size_t nbytes, std::size_t size, bool small, std::uintptr_t stream);
  [[noreturn]] void throw_out_of_memory(std::size_t nbytes, std::size_t segment_bytes,
                                        const std::string& note = "");
  void split_block(Block* block, std::size_t size);
  void return_block(Block* block);  // to its pool (merging) or, in bypass mode, to the backend
  void release_segment(Block* head);
  // Records an event on each stream of block->stream_uses (all or none: throws after releasing
  // the ones recorded).
  std::vector<PendingEvent> record_stream_use_events(Block* block);
  void await_events(Block* block, const std::vector<PendingEvent>& events);
  // Whether a stream in block->stream_uses is being captured.
  bool used_by_capture(const Block* block);
  // For each block awaiting a capture's end whose streams no longer capture: records its events.
  void record_deferred_events();
  void process_events();
  void wait_for_pending_events();
  void release_free_segments();
  static void grow(MemoryStat& stat, std::int64_t amount);

  RawMemoryBackend& backend_;
  const CachingAllocatorOptions options_;
  mutable std::mutex mutex_;
  Pool small_pool_;
  Pool large_pool_;
  std::unordered_map<void*, Block*> live_blocks_;  // allocated by users
  std::map<char*, Block*> segments_;               // segment base -> its first block
  std::unordered_map<std::uintptr_t, std::deque<PendingEvent>> pending_;  // by stream
  std::size_t num_pending_ = 0;
  std::vector<Block*> awaiting_capture_;  // freed during a capture of one of their use streams
  std::unordered_map<std::uintptr_t, int> retained_streams_;  // stream -> retain count
  MemoryStats stats_;
};

}  // namespace cudanet
