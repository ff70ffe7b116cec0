// cudaemu stream order: races between operations on different streams.
//
// On a GPU, the operations of one stream run in the order they were issued; those of two streams
// run in any order, or at once, unless something orders them: an event recorded on one stream that
// the other waits for, a host synchronisation between the two, or the legacy default stream's
// implicit synchronisation with blocking streams. The emulator runs each operation at once on the
// calling thread, so a forgotten cudaStreamWaitEvent or record_stream computes the right answer
// here and a wrong one on a GPU.
//
// With the race checker on, this file follows the order the program establishes, not the order
// things ran in. Each stream counts the operations issued on it and keeps a vector clock: how many
// operations of every stream are ordered before its next one. A recorded event keeps its stream's
// clock; a stream that waits for it takes it in; so does the host when it synchronises with a
// stream or an event, and every operation the host issues afterwards. Memory that operations
// touch (device memory and pinned host memory) has a shadow per 4-byte granule: the operation
// that last wrote it and up to two that read it since. An operation that writes a granule another
// stream's unordered operation read or wrote, or reads one another stream's unordered operation
// wrote, is a race.
//
// Operations report what they touch: copies and memsets their ranges, cuBLAS and cuDNN their
// matrices and tensors, kernels every granule the race checker saw them load or store. All host
// threads count as one host (synchronising on one thread orders the work another thread issues
// afterwards), so a race that only a missing host-side handshake causes goes unreported.
//
// The host's side: pinned memory that a copy read stays read-only until the host has waited for
// the copy, so host code that refills the buffer too early faults (the runtime's SIGSEGV handler
// asks order_host_fault() what such a fault is).
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "internal.h"

namespace cudaemu::detail {

namespace {

// For each stream (by id), how many of its operations are ordered before something.
class Clock {
 public:
  std::uint32_t of(std::uint32_t stream) const {
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), Entry{stream, 0});
    return it != entries_.end() && it->first == stream ? it->second : 0;
  }
  void set(std::uint32_t stream, std::uint32_t ops) {
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), Entry{stream, 0});
    if (it != entries_.end() && it->first == stream) {
      it->second = ops;
    } else {
      entries_.insert(it, Entry{stream, ops});
    }
  }
  void join(const Clock& other) {
    for (const Entry& e : other.entries_) {
      if (of(e.first) < e.second) set(e.first, e.second);
    }
  }

 private:
  using Entry = std::pair<std::uint32_t, std::uint32_t>;
  std::vector<Entry> entries_;  // sorted by stream id
};

// One operation: the stream's id (0: the legacy default stream) and its number there, from 1.
struct Epoch {
  std::uint32_t stream = 0;
  std::uint32_t op = 0;  // 0: none
};

struct Granule {
  Epoch write;
  Epoch reads[2];  // reads since the write, by different streams, not ordered before each other
};

constexpr std::size_t kPageBytes = kShadowPageBytes;
constexpr std::size_t kGranules = kShadowGranules;
constexpr std::size_t kWords = kGranules / 64;  // of a page's granule bit sets
// A page's granules. While they are alike (as after a copy or a kernel that wrote the whole page)
// one shadow stands for all of them.
struct ShadowPage {
  Granule all;                          // every granule's, while `granules` is null
  std::unique_ptr<Granule[]> granules;  // each granule's, once they differ
  Granule& at(std::size_t i) {
    if (!granules) {
      granules = std::make_unique<Granule[]>(kGranules);
      std::fill_n(granules.get(), kGranules, all);
    }
    return granules[i];
  }
};

struct StreamRecord {
  std::uint32_t id = 0;
  bool blocking = true;  // synchronises with the legacy default stream
  std::uint32_t ops = 0;
  Clock clock;  // what its next operation comes after
};

struct Order {
  std::mutex mutex;
  std::uint32_t next_id = 1;
  StreamRecord legacy;
  std::unordered_map<cudaStream_t, StreamRecord> streams;
  std::unordered_map<cudaEvent_t, Clock> events;  // as last recorded (eagerly)
  Clock host;                                     // what the host has waited for
  std::unordered_map<std::uintptr_t, std::unique_ptr<ShadowPage>> pages;
  // What the recent checked operations were, for reports (at most kNames of them).
  std::unordered_map<std::uint64_t, std::string> names;
  std::deque<std::uint64_t> named;
  // Pinned host memory that copies read, until the host has waited for them: its pages are
  // read-only meanwhile (with the number of pending reads on each).
  struct PendingRead {
    std::uintptr_t begin, end;
    Epoch epoch;
  };
  std::vector<PendingRead> pending;
  std::unordered_map<std::uintptr_t, int> read_only;
};
constexpr std::size_t kNames = 1 << 16;

Order& order() {
  static Order* o = new Order;  // never destroyed: streams and frees may come at exit
  return *o;
}

// Runs f(order) under the order's mutex.
template <typename F>
void with_order(F f) {
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  f(o);
}

StreamRecord& record_of(Order& o, cudaStream_t stream) {
  if (stream == nullptr) return o.legacy;
  auto [it, fresh] = o.streams.try_emplace(stream);
  if (fresh) it->second.id = o.next_id++;
  return it->second;
}

std::uint64_t key(Epoch e) {
  return std::uint64_t{e.stream} << 32 | e.op;
}

std::string stream_name(std::uint32_t id) {
  return id == 0 ? "the legacy default stream" : "stream #" + std::to_string(id);
}

}  // namespace

// The operation running on this thread, while the checker is on.
struct StreamOpContext {
  Epoch epoch;
  Clock clock;  // the operations ordered before it
};

namespace {

thread_local StreamOpContext* t_op = nullptr;

// Where two operations clash: the address, and the other operation.
struct Clash {
  std::uintptr_t addr = 0;
  Epoch other;
  bool other_wrote = false;
  bool wrote = false;
};

// Checks the running operation's access to one granule, then records it. True on a race.
bool touch(Granule& g, const StreamOpContext& op, bool write, Clash* clash) {
  const auto unordered = [&op](Epoch e) {
    return e.op != 0 && e.stream != op.epoch.stream && e.op > op.clock.of(e.stream);
  };
  if (unordered(g.write)) {
    *clash = Clash{0, g.write, true, write};
    return true;
  }
  if (write) {
    for (const Epoch& r : g.reads) {
      if (unordered(r)) {
        *clash = Clash{0, r, false, true};
        return true;
      }
    }
    g = Granule{op.epoch, {}};
    return false;
  }
  // A read replaces its own stream's earlier one, or one ordered before it (a write ordered after
  // this read comes after that one too). Failing both, it replaces the second: a third stream's
  // concurrent read is then forgotten, and a race with it may go unreported.
  Epoch* slot = nullptr;
  for (Epoch& r : g.reads) {
    if (r.op != 0 && r.stream == op.epoch.stream) slot = &r;
  }
  for (Epoch& r : g.reads) {
    if (slot == nullptr && !unordered(r)) slot = &r;
  }
  if (slot == nullptr) slot = &g.reads[1];
  *slot = op.epoch;
  return false;
}

std::string describe(Order& o, Epoch e) {
  const auto it = o.names.find(key(e));
  const std::string what =
      it != o.names.end() ? it->second : "operation " + std::to_string(e.op) + " of the stream";
  return what + " on " + stream_name(e.stream);
}

// The report of a clash (o.mutex held).
std::string report(Order& o, const StreamOpContext& op, const Clash& c) {
  std::uintptr_t base = 0;
  std::size_t bytes = 0;
  std::string where = "memory";
  if (allocation_of(reinterpret_cast<const void*>(c.addr), &base, &bytes)) {
    where = std::string(is_device_memory(reinterpret_cast<const void*>(c.addr))
                            ? "device memory"
                            : "pinned host memory") +
            " (byte " + std::to_string(c.addr - base) + " of an allocation of " +
            std::to_string(bytes) + ")";
  }
  const std::string other = stream_name(c.other.stream);
  return "stream-order race on " + where + ": " + (c.wrote ? "a write by " : "a read by ") +
         describe(o, op.epoch) + ", and " + (c.other_wrote ? "a write by " : "a read by ") +
         describe(o, c.other) + ", which nothing orders before it (an event recorded on " + other +
         " after it and waited for by " + stream_name(op.epoch.stream) +
         ", or a host synchronisation with " + other + " in between, would)";
}

bool all_set(const std::uint64_t* bits) {
  return std::all_of(bits, bits + kWords, [](std::uint64_t w) { return w == ~std::uint64_t{0}; });
}
bool none_set(const std::uint64_t* bits) {
  return std::all_of(bits, bits + kWords, [](std::uint64_t w) { return w == 0; });
}

// Checks and records the running operation's accesses to one page: the granules whose bits are
// set in `reads` (and not in `writes`) it read, those in `writes` it wrote. Returns "" or the
// report of the first race, at an address no lower than `floor` (o.mutex held).
std::string note_page(Order& o, std::uintptr_t number, const std::uint64_t* reads,
                      const std::uint64_t* writes, std::uintptr_t floor) {
  std::unique_ptr<ShadowPage>& slot = o.pages[number];
  if (!slot) slot = std::make_unique<ShadowPage>();
  ShadowPage& page = *slot;
  const std::uintptr_t start = number * kPageBytes;
  const bool whole_write = all_set(writes);
  Clash clash;
  if (!page.granules && (whole_write || (all_set(reads) && none_set(writes)))) {
    if (!touch(page.all, *t_op, whole_write, &clash)) return "";
    clash.addr = std::max(start, floor);
    return report(o, *t_op, clash);
  }
  for (std::size_t word = 0; word < kWords; ++word) {
    const std::uint64_t any = reads[word] | writes[word];
    for (std::size_t bit = 0; bit < 64; ++bit) {
      if (!((any >> bit) & 1u)) continue;
      const std::size_t i = word * 64 + bit;
      if (touch(page.at(i), *t_op, (writes[word] >> bit) & 1u, &clash)) {
        clash.addr = std::max(start + i * 4, floor);
        return report(o, *t_op, clash);
      }
    }
  }
  if (whole_write) {  // every granule is now as the write left it: alike again
    page.all = page.granules[0];
    page.granules.reset();
  }
  return "";
}

// Makes pages writable again once no pending read covers them (o.mutex held). `drop` decides
// which pending reads end.
template <typename Drop>
void end_pending_reads(Order& o, Drop drop) {
  for (auto it = o.pending.begin(); it != o.pending.end();) {
    if (!drop(*it)) {
      ++it;
      continue;
    }
    for (std::uintptr_t n = it->begin / kPageBytes; n * kPageBytes < it->end; ++n) {
      const auto page = o.read_only.find(n);
      if (page == o.read_only.end() || --page->second > 0) continue;
      mprotect(reinterpret_cast<void*>(n * kPageBytes), kPageBytes, PROT_READ | PROT_WRITE);
      o.read_only.erase(page);
    }
    it = o.pending.erase(it);
  }
}

// After the host waited for something: the copies it has now seen finish (o.mutex held).
void host_waited(Order& o) {
  if (o.pending.empty()) return;
  end_pending_reads(
      o, [&o](const Order::PendingRead& r) { return o.host.of(r.epoch.stream) >= r.epoch.op; });
}

// The running operation reads or writes [p, p + bytes) (ignored outside cudaMalloc and
// cudaHostAlloc memory). Returns "" or the report of a race.
std::string order_note(const void* p, std::size_t bytes, bool write) {
  if (t_op == nullptr || bytes == 0) return "";
  std::uintptr_t base = 0;
  std::size_t size = 0;
  if (!allocation_of(p, &base, &size)) return "";  // pageable host memory: not followed
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t end = begin + std::min(bytes, base + size - begin);
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  for (std::uintptr_t number = begin / kPageBytes; number * kPageBytes < end; ++number) {
    const std::uintptr_t page_start = number * kPageBytes;
    const std::size_t first = (std::max(begin, page_start) - page_start) / 4;
    const std::size_t last = (std::min(end, page_start + kPageBytes) - page_start + 3) / 4;
    std::uint64_t none[kWords] = {}, some[kWords] = {};
    for (std::size_t i = first; i < last; ++i) some[i / 64] |= std::uint64_t{1} << (i % 64);
    std::string error = note_page(o, number, write ? none : some, write ? some : none, begin);
    if (!error.empty()) return error;
  }
  return "";
}

}  // namespace

StreamOp::StreamOp(cudaStream_t stream, const std::string& what) {
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  StreamRecord& r = record_of(o, stream);
  r.clock.join(o.host);
  if (stream == nullptr) {  // the legacy default stream waits for every blocking stream
    for (const auto& [s, b] : o.streams) {
      if (b.blocking) r.clock.join(b.clock);
    }
  } else if (r.blocking) {  // and they wait for it
    r.clock.join(o.legacy.clock);
  }
  r.clock.set(r.id, ++r.ops);
  if (t_op != nullptr || !racecheck_on()) return;
  context_ = std::make_unique<StreamOpContext>(StreamOpContext{Epoch{r.id, r.ops}, r.clock});
  t_op = context_.get();
  const std::uint64_t k = key(context_->epoch);
  o.names[k] = what;
  o.named.push_back(k);
  if (o.named.size() > kNames) {
    o.names.erase(o.named.front());
    o.named.pop_front();
  }
}

StreamOp::~StreamOp() {
  if (context_ != nullptr) t_op = nullptr;
}

std::string order_note_page(std::uintptr_t page_start, const std::uint64_t* reads,
                            const std::uint64_t* writes) {
  if (t_op == nullptr) return "";
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  return note_page(o, page_start / kPageBytes, reads, writes, 0);
}

cudaError_t order_note_all(const std::vector<Touched>& ranges) {
  if (t_op == nullptr) return cudaSuccess;
  for (const Touched& t : ranges) {
    const std::string error = order_note(t.p, t.bytes, t.write);
    if (!error.empty()) return fault(cudaErrorLaunchFailure, error);
  }
  return cudaSuccess;
}

bool order_checking() {
  return t_op != nullptr;
}

void order_guard_host_read(const void* p, std::size_t bytes) {
  if (t_op == nullptr || bytes == 0 || is_device_memory(p)) return;
  std::uintptr_t base = 0;
  if (!allocation_of(p, &base, nullptr)) return;  // pageable memory: not followed
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  o.pending.push_back({begin, begin + bytes, t_op->epoch});
  for (std::uintptr_t n = begin / kPageBytes; n * kPageBytes < begin + bytes; ++n) {
    if (o.read_only[n]++ == 0) {
      mprotect(reinterpret_cast<void*>(n * kPageBytes), kPageBytes, PROT_READ);
    }
  }
}

bool order_host_fault(const void* addr, bool device_operation_running) {
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  const std::uintptr_t number = a / kPageBytes;
  if (o.read_only.count(number) == 0) return false;
  const auto hit =
      std::find_if(o.pending.begin(), o.pending.end(),
                   [a](const Order::PendingRead& r) { return a >= r.begin && a < r.end; });
  if (hit != o.pending.end() && !device_operation_running) {
    std::uintptr_t base = 0;
    std::size_t size = 0;
    allocation_of(addr, &base, &size);
    const std::string message =
        "cudaemu: host code wrote pinned host memory (byte " + std::to_string(a - base) +
        " of an allocation of " + std::to_string(size) + ") that " + describe(o, hit->epoch) +
        " may still be reading: wait for the copy (an event, or a synchronisation with its "
        "stream) before reusing the buffer\n";
    ssize_t ignored = write(STDERR_FILENO, message.data(), message.size());
    (void)ignored;
    return false;
  }
  // Another buffer on the same page, or a device operation: the page stops being watched.
  end_pending_reads(o, [number](const Order::PendingRead& r) {
    return r.begin / kPageBytes <= number && number * kPageBytes < r.end;
  });
  return true;
}

void order_forget(std::uintptr_t base, std::size_t bytes) {
  Order& o = order();
  std::lock_guard<std::mutex> lock(o.mutex);
  const auto inside = [base, bytes](const Order::PendingRead& r) {
    return r.begin >= base && r.begin < base + bytes;
  };
  o.pending.erase(std::remove_if(o.pending.begin(), o.pending.end(), inside), o.pending.end());
  for (auto it = o.read_only.begin(); it != o.read_only.end();) {  // (unmapped already)
    const std::uintptr_t page = it->first * kPageBytes;
    it = page >= base && page < base + bytes ? o.read_only.erase(it) : std::next(it);
  }
  const std::uintptr_t first = base / kPageBytes, last = (base + bytes - 1) / kPageBytes;
  if (o.pages.size() < last - first + 1) {
    for (auto it = o.pages.begin(); it != o.pages.end();) {
      it = it->first >= first && it->first <= last ? o.pages.erase(it) : std::next(it);
    }
  } else {
    for (std::uintptr_t n = first; n <= last; ++n) o.pages.erase(n);
  }
}

void order_stream_created(cudaStream_t stream, unsigned flags) {
  with_order([&](Order& o) {
    o.streams.erase(stream);  // a new stream where a destroyed one was: a new id
    record_of(o, stream).blocking = (flags & cudaStreamNonBlocking) == 0;
  });
}

void order_stream_destroyed(cudaStream_t stream) {
  with_order([&](Order& o) { o.streams.erase(stream); });
}

void order_event_recorded(cudaEvent_t event, cudaStream_t stream) {
  with_order([&](Order& o) { o.events[event] = record_of(o, stream).clock; });
}

void order_event_destroyed(cudaEvent_t event) {
  with_order([&](Order& o) { o.events.erase(event); });
}

void order_stream_waits(cudaStream_t stream, cudaEvent_t event) {
  with_order([&](Order& o) {
    const auto it = o.events.find(event);
    if (it != o.events.end()) record_of(o, stream).clock.join(it->second);
  });
}

void order_host_waits_event(cudaEvent_t event) {
  with_order([&](Order& o) {
    const auto it = o.events.find(event);
    if (it != o.events.end()) o.host.join(it->second);
    host_waited(o);
  });
}

void order_host_waits_stream(cudaStream_t stream) {
  with_order([&](Order& o) {
    o.host.join(record_of(o, stream).clock);
    host_waited(o);
  });
}

void order_host_waits_all() {
  with_order([](Order& o) {
    o.host.join(o.legacy.clock);
    for (const auto& [s, r] : o.streams) o.host.join(r.clock);
    host_waited(o);
  });
}

}  // namespace cudaemu::detail
