// cudaemu racecheck: data races in kernels, found by watching every load and store they make.
//
// The emulator runs a block's threads one after another between barriers, and blocks one after
// another, so a racy kernel usually computes the right answer here (a non-atomic `+=` by many
// threads to one address loses nothing) and the wrong one on a GPU. The checker looks at the
// accesses instead of the results. Two accesses to the same byte race when at least one writes,
// they are not both atomic, and nothing orders them:
//   - two threads of one block between the same two __syncthreads() (for threads of one warp,
//     also between the same two warp barriers: __syncwarp, a shuffle);
//   - two blocks of one launch, in device memory (blocks may run in any order, or at once).
// Shared memory is the block's own, so only the first rule applies to it.
//
// How: the emulated build compiles the rewritten .cu files with -fsanitize=thread but does not
// link ThreadSanitizer's runtime. This file supplies the __tsan_* functions the instrumentation
// calls. Outside a checked kernel they return at once (atomics still do their operation).
//
// The shadow of a 4-byte granule of memory remembers the last write and the last read of the
// running block (thread, barrier generations, which bytes), whether other threads of the block
// read it in that interval, and which bytes earlier blocks of the launch read, wrote or updated
// atomically. It is per host thread (a launch runs on one) and forgotten launch by launch.
//
// Seeing every access, the checker also reports one that runs past the end of a device
// allocation but stays within its last page (the page protection catches only farther ones).
#include "cudaemu/racecheck.h"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cudaemu/device.h"
#include "internal.h"

namespace cudaemu::detail {

thread_local RaceThread* t_race __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

std::atomic<bool> g_enabled{[] {
  const char* v = std::getenv("CUDAEMU_RACECHECK");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};
std::atomic<bool> g_instrumented{false};

constexpr std::uint8_t kAtomic = 1;  // Rec::flags: an atomic access
constexpr std::uint8_t kOthers = 2;  // Rec::flags (reads): another thread read in that interval

struct Rec {
  std::uint16_t thread = 0;
  std::uint8_t mask = 0;  // the granule's bytes accessed; 0: no access recorded
  std::uint8_t flags = 0;
  std::uint16_t bgen = 0;  // the block's barrier generation (low bits)
  std::uint16_t wgen = 0;  // the warp's
};

struct Cell {
  std::uint32_t block = 0;         // the block whose accesses w and r are
  std::uint8_t earlier_read = 0;   // bytes read by earlier blocks of block's launch
  std::uint8_t earlier_write = 0;  // written (not atomically)
  std::uint8_t earlier_atomic = 0;
  std::uint8_t written = 0;  // (shared memory) bytes that block has written
  Rec w, r;
};
static_assert(sizeof(Cell) == 24, "a page's shadow is 24 times its number of granules");

constexpr std::size_t kPageBytes = kShadowPageBytes;
constexpr std::size_t kGranules = kShadowGranules;
enum class Space : std::uint8_t { kDevice, kShared };

struct Page {
  std::uint32_t classified_in = 0;  // the launch whose allocations `space` reflects
  Space space = Space::kShared;
  std::uintptr_t allocation_end = 0;  // (device memory) where the page's allocation ends
  Cell cells[kGranules];
};

}  // namespace

struct RaceShadow {
  std::unordered_map<std::uintptr_t, std::unique_ptr<Page>> pages;
  std::uintptr_t cached_number[8] = {};
  Page* cached[8] = {};
  std::uint32_t next_block = 1;
  std::vector<std::uintptr_t> launch_pages;  // the device pages the running launch touched

  Page& page(std::uintptr_t number) {
    const std::size_t slot = number & 7;
    if (cached[slot] != nullptr && cached_number[slot] == number) return *cached[slot];
    std::unique_ptr<Page>& p = pages[number];
    if (!p) p = std::make_unique<Page>();
    cached_number[slot] = number;
    cached[slot] = p.get();
    return *p;
  }
  void forget() {
    pages.clear();
    for (Page*& c : cached) c = nullptr;
  }
};

namespace {

thread_local RaceShadow t_shadow;

std::string thread_name(const RaceThread& t, unsigned linear) {
  const dim3 b = t.block_dim;
  return "thread (" + std::to_string(linear % b.x) + "," + std::to_string(linear / b.x % b.y) +
         "," + std::to_string(linear / (b.x * b.y)) + ")";
}

// Where the instrumented access at pc is: "function (source:line)" from addr2line when it is
// installed, else the module and offset to give it.
std::string code_at(const void* pc) {
  Dl_info info{};
  if (dladdr(pc, &info) == 0 || info.dli_fname == nullptr) return "unknown code";
  const auto offset = reinterpret_cast<std::uintptr_t>(pc) -
                      reinterpret_cast<std::uintptr_t>(info.dli_fbase) - 1;  // the call
  char where[64];
  std::snprintf(where, sizeof where, "0x%" PRIxPTR, offset);
  const std::string module = info.dli_fname;
  // Pairs of lines, innermost inlined function first: a function, its source line.
  std::vector<std::string> lines;
  if (module.find_first_of("'\\") == std::string::npos) {
    const std::string command = "addr2line -C -f -i -e '" + module + "' " + where + " 2>/dev/null";
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char line[1024];
      while (std::fgets(line, sizeof line, pipe) != nullptr) {
        lines.emplace_back(line);
        if (lines.back().back() == '\n') lines.back().pop_back();
      }
      pclose(pipe);
    }
  }
  // The first frame outside the emulator's own headers (__ldg, cub::BlockReduce) is the code to
  // look at.
  std::size_t frame = 0;
  while (frame + 3 < lines.size() &&
         lines[frame + 1].find("/cudaemu/include/") != std::string::npos) {
    frame += 2;
  }
  if (frame + 1 >= lines.size() || lines[frame] == "??" || lines[frame + 1].rfind("??", 0) == 0) {
    return module + "+" + where;
  }
  return lines[frame] + " (" + lines[frame + 1] + ")";
}

// What an access races with.
enum class Clash : std::uint8_t {
  kNone,
  kEarlierBlockWrite,
  kEarlierBlockAtomic,
  kEarlierBlockRead,
  kWrite,   // by Race::thread, of the same block, in the same interval
  kAtomic,  // likewise
  kRead,    // likewise
  kReads,   // by several threads of the same block, in the same interval
};
struct Race {
  Clash clash = Clash::kNone;
  std::uint16_t thread = 0;
};

// "(byte 12 of an allocation of 16)" for device memory at addr, in the page that starts at page.
std::string position(std::uintptr_t page, std::uintptr_t addr) {
  std::uintptr_t base = 0;
  std::size_t bytes = 0;
  if (!allocation_of(reinterpret_cast<const void*>(page), &base, &bytes)) return "";
  return " (byte " + std::to_string(addr - base) + " of an allocation of " + std::to_string(bytes) +
         ")";
}

std::string access_name(const RaceThread& t, std::uint32_t thread, std::size_t size, bool write,
                        bool atomic, const void* pc) {
  return std::string(atomic  ? "an atomic update"
                     : write ? "a write"
                             : "a read") +
         " of " + std::to_string(size) + " bytes by " + thread_name(t, thread) + " in " +
         code_at(pc);
}

void report(RaceThread& t, std::uintptr_t addr, std::size_t size, bool write, bool atomic,
            Space space, Race race, const void* pc) {
  t.reported = true;
  std::string where = space == Space::kDevice ? "device memory" : "shared memory";
  if (space == Space::kDevice) where += position(addr & ~(kPageBytes - 1), addr);
  const char* kinds[] = {"", "write", "atomic update", "read", "write", "atomic update", "read"};
  const auto k = static_cast<std::size_t>(race.clash);
  std::string other;
  if (race.clash == Clash::kReads) {
    other = "reads by other threads of the same block with no barrier between them";
  } else if (race.clash <= Clash::kEarlierBlockRead) {
    other = std::string(k == 2 ? "an " : "a ") + kinds[k] +
            " by another block of the same launch (blocks run in any order, and at once)";
  } else {
    other = std::string(k == 5 ? "an " : "a ") + kinds[k] + " by " + thread_name(t, race.thread) +
            " of the same block with no barrier between them";
  }
  device_fault(("data race on " + where + ": " + access_name(t, t.thread, size, write, atomic, pc) +
                ", and " + other)
                   .c_str());
}

// An access to an address that is not a multiple of its size, for a type whose alignment is its
// size: x86 does not mind, a GPU faults (cudaErrorMisalignedAddress).
void report_misaligned(RaceThread& t, std::uintptr_t addr, std::size_t size, bool write,
                       bool atomic, const void* pc) {
  t.reported = true;
  const std::string message =
      "misaligned address: " + access_name(t, t.thread, size, write, atomic, pc) + " at " +
      std::to_string(addr % size) + " bytes past a multiple of " + std::to_string(size) +
      " (a GPU faults: cudaErrorMisalignedAddress)";
  // The access comes next and may fault here too (x86's aligned vector moves do): say it now.
  std::fprintf(stderr, "cudaemu: %s\n", message.c_str());
  device_fault(message.c_str());
}

// An access that runs past the end of its allocation but not out of its last page (one past the
// page faults anyway).
void report_past_the_end(RaceThread& t, std::uintptr_t page, std::uintptr_t addr, std::size_t size,
                         bool write, bool atomic, const void* pc) {
  t.reported = true;
  device_fault(("out-of-bounds access to device memory" + position(page, addr) + ": " +
                access_name(t, t.thread, size, write, atomic, pc) + " runs past the end")
                   .c_str());
}

// Checks an access to the bytes `mask` of the granule whose shadow is c, then records it.
Race check(const RaceThread& t, Cell& c, Space space, std::uint8_t mask, bool write, bool atomic) {
  const bool device = space == Space::kDevice;
  if (c.block != t.block) {
    if (c.block < t.launch_first) {  // an earlier launch's accesses (or none): forgotten
      c.earlier_read = c.earlier_write = c.earlier_atomic = 0;
    } else if (device) {  // an earlier block of this launch
      c.earlier_read |= c.r.mask;
      (c.w.flags & kAtomic ? c.earlier_atomic : c.earlier_write) |= c.w.mask;
    }
    c.block = t.block;
    c.written = 0;
    c.w = c.r = Rec{};
  }
  Race race;
  if (device) {  // (earlier_* are now of this launch)
    const std::uint8_t plain = c.earlier_write | (atomic ? 0 : c.earlier_atomic);
    const std::uint8_t clash = mask & (write ? plain | c.earlier_read : plain);
    if (clash & c.earlier_write) {
      race.clash = Clash::kEarlierBlockWrite;
    } else if (clash & c.earlier_atomic) {
      race.clash = Clash::kEarlierBlockAtomic;
    } else if (clash != 0) {
      race.clash = Clash::kEarlierBlockRead;
    }
  }
  const auto bgen = static_cast<std::uint16_t>(*t.block_generation);
  const auto wgen = static_cast<std::uint16_t>(*t.warp_generation);
  const auto thread = static_cast<std::uint16_t>(t.thread);
  // Whether a's thread and this one are unordered: the same barrier interval (and the same warp
  // interval, for two lanes of one warp).
  const auto unordered = [&](const Rec& a) {
    return a.thread != thread && a.bgen == bgen && (a.thread / 32 != thread / 32 || a.wgen == wgen);
  };
  if (race.clash == Clash::kNone && (c.w.mask & mask) && unordered(c.w) &&
      !(atomic && (c.w.flags & kAtomic))) {
    race = {c.w.flags & kAtomic ? Clash::kAtomic : Clash::kWrite, c.w.thread};
  }
  if (race.clash == Clash::kNone && write && (c.r.mask & mask) && c.r.bgen == bgen) {
    if (unordered(c.r)) {
      race = {Clash::kRead, c.r.thread};
    } else if (c.r.flags & kOthers) {
      race.clash = Clash::kReads;
    }
  }
  if (write) {
    const bool same = c.w.mask != 0 && c.w.thread == thread && c.w.bgen == bgen;
    c.w = Rec{thread, static_cast<std::uint8_t>(mask | (same ? c.w.mask : 0)),
              atomic ? kAtomic : std::uint8_t{0}, bgen, wgen};
  } else if (c.r.mask != 0 && c.r.bgen == bgen) {
    if (c.r.thread != thread) c.r.flags |= kOthers;
    c.r.thread = thread;
    c.r.mask |= mask;
    c.r.wgen = wgen;
  } else {
    c.r = Rec{thread, mask, 0, bgen, wgen};
  }
  return race;
}

// The running block's __shared__ variable that holds addr, or null.
const SharedVar* shared_var(const RaceThread& t, std::uintptr_t addr) {
  for (const SharedVar& v : *t.shared) {
    if (addr - v.begin < v.bytes) return &v;
  }
  return nullptr;
}

// Follows which bytes of a granule outside device memory the block has written. A read of bytes
// it has not written is one of a __shared__ variable the block never wrote (returns that
// variable), or of memory kernels only read (arguments, threadIdx): that granule then counts as
// written.
const SharedVar* unwritten_read(const RaceThread& t, Cell& c, std::uintptr_t addr,
                                std::uint8_t mask, bool write, bool atomic) {
  const SharedVar* var = nullptr;
  if ((!write || atomic) && (mask & ~c.written) != 0) {
    var = shared_var(t, addr);
    if (var == nullptr) c.written = 0xF;
  }
  if (write) c.written |= mask;
  return var;
}

// One access by the running thread. aligned: the compiler took the address to be a multiple of
// size (a type's natural alignment, which a GPU requires).
void access(const void* p, std::size_t size, bool write, bool atomic, bool aligned,
            const void* pc) {
  RaceThread& t = *t_race;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  if (t.reported || addr - t.stack < kFiberStackBytes) return;  // a local of the thread
  if (aligned && addr % size != 0) {
    report_misaligned(t, addr, size, write, atomic, pc);
    return;
  }
  RaceShadow& shadow = *t.shadow;
  for (std::uintptr_t a = addr; a < addr + size;) {
    const std::uintptr_t granule_end = (a & ~std::uintptr_t{3}) + 4;
    const std::uintptr_t end = granule_end < addr + size ? granule_end : addr + size;
    const auto mask = static_cast<std::uint8_t>(((1u << (end - a)) - 1) << (a & 3));
    Page& page = shadow.page(a / kPageBytes);
    const std::uintptr_t page_start = a & ~(kPageBytes - 1);
    if (page.classified_in != t.launch_first) {
      // Allocations start on a page: a page holds device memory if its first byte is some.
      page.classified_in = t.launch_first;
      std::uintptr_t base = 0;
      std::size_t bytes = 0;
      const bool device = allocation_of(reinterpret_cast<const void*>(page_start), &base, &bytes);
      page.space = device ? Space::kDevice : Space::kShared;
      page.allocation_end = device ? base + bytes : 0;
      if (device) shadow.launch_pages.push_back(a / kPageBytes);
    }
    if (page.space == Space::kDevice && end > page.allocation_end) {
      report_past_the_end(t, page_start, addr, size, write, atomic, pc);
      return;
    }
    Cell& cell = page.cells[(a % kPageBytes) / 4];
    const Race race = check(t, cell, page.space, mask, write, atomic);
    if (race.clash != Clash::kNone) {
      report(t, a, size, write, atomic, page.space, race, pc);
      return;
    }
    if (page.space == Space::kShared) {
      const SharedVar* var = unwritten_read(t, cell, a, mask, write, atomic);
      if (var != nullptr && t.unwritten.pc == nullptr) {
        t.unwritten = {pc, addr, size, t.thread, *var};  // reported when the block ends
      }
    }
    a = end;
  }
}

inline void on_access(const void* p, std::size_t size, bool write, bool aligned, const void* pc) {
  if (t_race != nullptr) access(p, size, write, false, aligned, pc);
}

}  // namespace

bool racecheck_on() {
  return g_enabled.load(std::memory_order_relaxed);
}

void race_begin_launch(RaceThread& t) {
  if (!g_instrumented.load(std::memory_order_relaxed)) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      std::fprintf(stderr,
                   "cudaemu: the race checker is on, but no instrumented code is loaded "
                   "(configure with -DCUDAEMU_RACECHECK=ON): no race is checked\n");
    }
  }
  // The shadow only matters within a launch; keep it from growing without bound.
  // (And forget it before block serials wrap around.)
  if (t_shadow.pages.size() > 4096 || t_shadow.next_block > 0xF0000000u) {
    t_shadow.forget();
    t_shadow.next_block = 1;
  }
  t.shadow = &t_shadow;
  t.launch_first = t_shadow.next_block;
  t.reported = false;
  t_shadow.launch_pages.clear();
}

std::string race_end_launch(RaceThread& t) {
  RaceShadow& shadow = *t.shadow;
  std::string error;
  if (!t.reported && order_checking()) {
    // Which granules of each page the launch read and which it wrote (atomically or not).
    for (const std::uintptr_t number : shadow.launch_pages) {
      const Page& page = shadow.page(number);
      std::uint64_t reads[kGranules / 64] = {}, writes[kGranules / 64] = {};
      for (std::size_t i = 0; i < kGranules; ++i) {
        const Cell& c = page.cells[i];
        if (c.block < t.launch_first) continue;
        const std::uint64_t bit = std::uint64_t{1} << (i % 64);
        if (c.w.mask | c.earlier_write | c.earlier_atomic) writes[i / 64] |= bit;
        if (c.r.mask | c.earlier_read) reads[i / 64] |= bit;
      }
      error = order_note_page(number * kPageBytes, reads, writes);
      if (!error.empty()) break;
    }
  }
  shadow.launch_pages.clear();
  return error;
}

void race_begin_block(RaceThread& t) {
  t.block = t_shadow.next_block++;
  t.unwritten = {};
}

std::string race_end_block(RaceThread& t) {
  if (t.reported || t.unwritten.pc == nullptr) return "";
  t.reported = true;
  const auto& u = t.unwritten;
  return "read of shared memory that no thread of the block had written: " +
         access_name(t, u.thread, u.size, false, false, u.pc) + ", at byte " +
         std::to_string(u.addr - u.var.begin) + " of a __shared__ variable of " +
         std::to_string(u.var.bytes) +
         " bytes (a GPU block finds what an earlier block left there: is a __syncthreads() "
         "missing, or a part of a tile never filled?)";
}

}  // namespace cudaemu::detail

namespace cudaemu {
void set_racecheck(bool on) {
  detail::g_enabled.store(on);
}
bool racecheck_enabled() {
  return detail::racecheck_on();
}
bool racecheck_instrumented() {
  return detail::g_instrumented.load();
}
}  // namespace cudaemu

// ---- The entry points the -fsanitize=thread instrumentation calls
// --------------------------------
using cudaemu::detail::on_access;

#define CUDAEMU_TSAN_ACCESS(N)                                  \
  void __tsan_read##N(void* p) {                                \
    on_access(p, N, false, true, __builtin_return_address(0));  \
  }                                                             \
  void __tsan_write##N(void* p) {                               \
    on_access(p, N, true, true, __builtin_return_address(0));   \
  }                                                             \
  void __tsan_unaligned_read##N(void* p) {                      \
    on_access(p, N, false, false, __builtin_return_address(0)); \
  }                                                             \
  void __tsan_unaligned_write##N(void* p) {                     \
    on_access(p, N, true, false, __builtin_return_address(0));  \
  }

// An atomic operation does what it says; in a checked kernel it is also an atomic access.
#define CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                      \
  if (cudaemu::detail::t_race != nullptr) {                                                \
    cudaemu::detail::access(const_cast<const void*>(static_cast<const volatile void*>(a)), \
                            sizeof(*(a)), true, true, true, __builtin_return_address(0));  \
  }

#define CUDAEMU_TSAN_RMW(N, T, op)                     \
  T __tsan_atomic##N##_##op(volatile T* a, T v, int) { \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                      \
    return __atomic_##op(a, v, __ATOMIC_SEQ_CST);      \
  }

#define CUDAEMU_TSAN_ATOMICS(N, T)                                                                 \
  T __tsan_atomic##N##_load(const volatile T* a, int) {                                            \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                   \
  }                                                                                                \
  void __tsan_atomic##N##_store(volatile T* a, T v, int) {                                         \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                      \
  }                                                                                                \
  T __tsan_atomic##N##_exchange(volatile T* a, T v, int) {                                         \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);                                            \
  }                                                                                                \
  CUDAEMU_TSAN_RMW(N, T, fetch_add)                                                                \
  CUDAEMU_TSAN_RMW(N, T, fetch_sub)                                                                \
  CUDAEMU_TSAN_RMW(N, T, fetch_and)                                                                \
  CUDAEMU_TSAN_RMW(N, T, fetch_or)                                                                 \
  CUDAEMU_TSAN_RMW(N, T, fetch_xor)                                                                \
  CUDAEMU_TSAN_RMW(N, T, fetch_nand)                                                               \
  int __tsan_atomic##N##_compare_exchange_strong(volatile T* a, T* expected, T v, int, int) {      \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    return __atomic_compare_exchange_n(a, expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
  }                                                                                                \
  int __tsan_atomic##N##_compare_exchange_weak(volatile T* a, T* expected, T v, int, int) {        \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    return __atomic_compare_exchange_n(a, expected, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);  \
  }                                                                                                \
  T __tsan_atomic##N##_compare_exchange_val(volatile T* a, T expected, T v, int, int) {            \
    CUDAEMU_TSAN_ATOMIC_ACCESS(a)                                                                  \
    __atomic_compare_exchange_n(a, &expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);       \
    return expected;                                                                               \
  }

extern "C" {
void __tsan_init() {
  cudaemu::detail::g_instrumented.store(true);
}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
void __tsan_read_range(void* p, unsigned long size) {
  on_access(p, size, false, false, __builtin_return_address(0));
}
void __tsan_write_range(void* p, unsigned long size) {
  on_access(p, size, true, false, __builtin_return_address(0));
}
CUDAEMU_TSAN_ACCESS(1)
CUDAEMU_TSAN_ACCESS(2)
CUDAEMU_TSAN_ACCESS(4)
CUDAEMU_TSAN_ACCESS(8)
CUDAEMU_TSAN_ACCESS(16)
CUDAEMU_TSAN_ATOMICS(8, std::uint8_t)
CUDAEMU_TSAN_ATOMICS(16, std::uint16_t)
CUDAEMU_TSAN_ATOMICS(32, std::uint32_t)
CUDAEMU_TSAN_ATOMICS(64, std::uint64_t)
void __tsan_atomic_thread_fence(int) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
void __tsan_atomic_signal_fence(int) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
}  // extern "C"
