// cudaemu: runs a kernel's threads. Blocks run one after another on the launching host thread;
// the threads of a block are fibers that switch only at barriers and warp operations, so
// __shared__ variables (function-local statics) are the block's shared memory.
//
// A fiber switch is a few instructions on x86-64 (cudaemu_switch below: callee-saved registers
// and the stack pointer); elsewhere it is ucontext's swapcontext, which also makes a system call
// per switch.
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "cudaemu/device.h"
#include "internal.h"

namespace cudaemu::detail {

thread_local uint3 t_thread_idx{0, 0, 0};
thread_local uint3 t_block_idx{0, 0, 0};
thread_local dim3 t_block_dim;
thread_local dim3 t_grid_dim;

namespace {

constexpr std::size_t kStackBytes = kFiberStackBytes;
constexpr std::size_t kGuardBytes = 4096;
constexpr std::size_t kExchangeBytes = 64;  // the largest value a warp shuffle moves

struct Barrier {
  unsigned live = 0;     // threads that have not exited
  unsigned arrived = 0;  // threads waiting at the barrier now
  unsigned exited = 0;
  std::uint64_t generation = 0;  // incremented when the barrier opens
};

#if defined(__x86_64__)
// cudaemu_switch(save, load): saves the callee-saved registers on the current stack, stores the
// stack pointer in *save, and continues on the stack `load` (one that cudaemu_switch saved, or a
// new fiber's, prepared by Context::start).
extern "C" void cudaemu_switch(void** save, void* load);
asm(R"(
  .text
  .globl cudaemu_switch
  .hidden cudaemu_switch
  .type cudaemu_switch, @function
cudaemu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cudaemu_switch, .-cudaemu_switch
)");

struct Context {
  void* sp = nullptr;
  // A fresh stack whose first switch "returns" into entry (which must never return).
  void start(void* stack, std::size_t bytes, void (*entry)()) {
    auto top = (reinterpret_cast<std::uintptr_t>(stack) + bytes) & ~std::uintptr_t{15};
    auto* slot = reinterpret_cast<void**>(top);
    *--slot = nullptr;                              // entry's (never used) return address
    *--slot = reinterpret_cast<void*>(entry);       // where the first switch's ret goes
    for (int i = 0; i < 6; ++i) *--slot = nullptr;  // rbp, rbx, r12-r15
    sp = slot;
  }
};
void switch_to(Context& from, Context& to) {
  cudaemu_switch(&from.sp, to.sp);
}
#else
struct Context {
  ucontext_t uc;
  void start(void* stack, std::size_t bytes, void (*entry)()) {
    getcontext(&uc);
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = bytes;
    uc.uc_link = nullptr;
    makecontext(&uc, entry, 0);
  }
};
void switch_to(Context& from, Context& to) {
  swapcontext(&from.uc, &to.uc);
}
#endif

struct Fiber {
  Context context;
  void* stack = nullptr;
  uint3 index{0, 0, 0};
  unsigned linear = 0;
  bool started = false;
  bool done = false;
  const std::uint64_t* waiting_on = nullptr;  // a barrier's generation...
  std::uint64_t waiting_while = 0;            // ...that has not moved on from this value
};

// Fiber stacks, reused: a kernel without barriers runs every thread on the same stack.
class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool() {
    for (void* s : free_) munmap(static_cast<char*>(s) - kGuardBytes, kStackBytes + kGuardBytes);
  }
  void* get() {
    if (!free_.empty()) {
      void* s = free_.back();
      free_.pop_back();
      return s;
    }
    void* m = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(m, kGuardBytes, PROT_NONE);  // a stack overflow faults instead of corrupting
    return static_cast<char*>(m) + kGuardBytes;
  }
  void put(void* s) {
    if (s != nullptr) free_.push_back(s);
  }

 private:
  std::vector<void*> free_;
};

struct BlockRun {
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
  Barrier block;
  std::vector<Barrier> warps;
  std::vector<unsigned char> exchange;
  Context scheduler;
  Fiber* current = nullptr;
  std::string error;
  RaceThread* race = nullptr;     // the data-race checker's view, when it is on
  std::vector<SharedVar> shared;  // the __shared__ variables the block has declared
};

thread_local BlockRun* t_run = nullptr;
thread_local StackPool t_stacks;

bool reverse_order() {
  static const bool reverse = [] {
    const char* v = std::getenv("CUDAEMU_ORDER");
    return v != nullptr && std::strcmp(v, "reverse") == 0;
  }();
  return reverse;
}

std::string where(const uint3& v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

void record(BlockRun& r, const std::string& what) {
  if (!r.error.empty()) return;
  r.error = what;
  if (r.current != nullptr) r.error += " [thread " + where(r.current->index) + "]";
  r.error += " [block " + where(t_block_idx) + "]";
}

void yield() {
  BlockRun& r = *t_run;
  switch_to(r.current->context, r.scheduler);
}

void open(Barrier& b) {
  b.arrived = 0;
  ++b.generation;
}

void arrive_and_wait(Barrier& b, const char* what) {
  BlockRun& r = *t_run;
  if (b.exited > 0) {
    record(r, std::string(what) +
                  " reached after other threads of the group exited "
                  "(a barrier every thread must reach)");
  }
  if (++b.arrived >= b.live) {
    open(b);
    return;
  }
  r.current->waiting_on = &b.generation;
  r.current->waiting_while = b.generation;
  yield();
}

void thread_exit(BlockRun& r, const Fiber& f) {
  for (Barrier* b : {&r.block, &r.warps[f.linear / 32]}) {
    --b->live;
    ++b->exited;
    if (b->arrived > 0) {
      record(r, "a thread exited while others of its group wait at a barrier");
      if (b->arrived >= b->live) open(*b);
    }
  }
}

void fiber_main() {
  BlockRun& r = *t_run;
  Fiber& f = *r.current;
  try {
    (*r.body)();
  } catch (const std::exception& e) {
    record(r, std::string("exception in device code: ") + e.what());
  } catch (...) {
    record(r, "exception in device code");
  }
  thread_exit(r, f);
  f.done = true;
  switch_to(f.context, r.scheduler);  // never resumed
}

bool resume(BlockRun& r, Fiber& f) {
  r.current = &f;
  t_thread_idx = f.index;
  if (!f.started) {
    f.stack = t_stacks.get();
    if (f.stack == nullptr) {
      record(r, "cudaemu: no memory for a fiber stack");
      return false;
    }
    f.context.start(f.stack, kStackBytes, fiber_main);
    f.started = true;
  }
  if (r.race != nullptr) {
    r.race->stack = reinterpret_cast<std::uintptr_t>(f.stack);
    r.race->thread = f.linear;
    r.race->warp_generation = &r.warps[f.linear / 32].generation;
    t_race = r.race;
  }
  switch_to(r.scheduler, f.context);
  t_race = nullptr;
  return true;
}

void run_block(BlockRun& r) {
  const unsigned n = static_cast<unsigned>(r.fibers.size());
  r.block = Barrier{n, 0, 0, 0};
  r.shared.clear();
  for (std::size_t w = 0; w < r.warps.size(); ++w) {
    const unsigned first = static_cast<unsigned>(w) * 32;
    r.warps[w] = Barrier{n - first < 32 ? n - first : 32, 0, 0, 0};
  }
  for (Fiber& f : r.fibers) {
    f.started = f.done = false;
    f.waiting_on = nullptr;
  }
  unsigned remaining = n;
  while (remaining > 0) {
    bool progressed = false;
    for (unsigned k = 0; k < n; ++k) {
      Fiber& f = r.fibers[reverse_order() ? n - 1 - k : k];
      if (f.done || (f.waiting_on != nullptr && *f.waiting_on == f.waiting_while)) continue;
      f.waiting_on = nullptr;
      if (!resume(r, f)) return;
      progressed = true;
      if (f.done) {
        --remaining;
        t_stacks.put(f.stack);
        f.stack = nullptr;
      }
    }
    if (!progressed) {
      r.current = nullptr;
      record(r, "deadlock: " + std::to_string(remaining) +
                    " threads wait at barriers the others never reach");
      break;
    }
  }
  // After a deadlock, suspended fibers are abandoned; their stacks are free to reuse.
  for (Fiber& f : r.fibers) {
    if (f.stack != nullptr) t_stacks.put(f.stack);
    f.stack = nullptr;
  }
}

}  // namespace

std::string run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  BlockRun r;
  r.body = &body;
  const unsigned threads = block.x * block.y * block.z;
  r.fibers.resize(threads);
  for (unsigned i = 0; i < threads; ++i) {
    r.fibers[i].linear = i;
    r.fibers[i].index = {i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
  }
  r.warps.resize((threads + 31) / 32);
  r.exchange.resize(r.warps.size() * 32 * kExchangeBytes);

  RaceThread race;
  if (racecheck_on()) {
    race.block_generation = &r.block.generation;
    race.block_dim = block;
    race.shared = &r.shared;
    race_begin_launch(race);
    r.race = &race;
  }
  BlockRun* const outer = t_run;
  t_run = &r;
  t_block_dim = block;
  t_grid_dim = grid;
  const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
  for (std::uint64_t k = 0; k < blocks && r.error.empty(); ++k) {
    const std::uint64_t b = reverse_order() ? blocks - 1 - k : k;
    t_block_idx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                   static_cast<unsigned>(b / (std::uint64_t{grid.x} * grid.y))};
    if (r.race != nullptr) race_begin_block(race);
    run_block(r);
    if (r.race != nullptr) {
      std::string unwritten = race_end_block(race);
      if (!unwritten.empty()) {
        r.current = nullptr;  // the report names its thread
        record(r, unwritten);
      }
    }
  }
  t_run = outer;
  if (r.race != nullptr) {
    std::string order_error = race_end_launch(race);
    if (r.error.empty()) r.error = std::move(order_error);
  }
  return r.error;
}

void block_barrier() {
  if (t_run == nullptr) return;  // called from host code: nothing to wait for
  arrive_and_wait(t_run->block, "__syncthreads()");
}

void warp_barrier() {
  if (t_run == nullptr) return;
  arrive_and_wait(t_run->warps[t_run->current->linear / 32], "a warp barrier");
}

void warp_exchange(const void* in, void* out, std::size_t bytes, unsigned src_lane) {
  if (t_run == nullptr) {
    std::memcpy(out, in, bytes);
    return;
  }
  BlockRun& r = *t_run;
  const unsigned linear = r.current->linear;
  const unsigned warp = linear / 32;
  unsigned char* slots = r.exchange.data() + std::size_t{warp} * 32 * kExchangeBytes;
  if (bytes > kExchangeBytes) {
    record(r, "cudaemu: a shuffle of a value larger than 64 bytes");
    std::memcpy(out, in, bytes);
    return;
  }
  std::memcpy(slots + (linear % 32) * kExchangeBytes, in, bytes);
  Barrier& b = r.warps[warp];
  const unsigned lanes = b.live + b.exited;  // the warp's size (the last warp may be partial)
  arrive_and_wait(b, "a warp shuffle");
  const unsigned src = src_lane < lanes ? src_lane : linear % 32;
  std::memcpy(out, slots + src * kExchangeBytes, bytes);
  arrive_and_wait(b, "a warp shuffle");  // every lane has read before the slots are reused
}

void shared_declared(const void* var, std::size_t bytes) {
  if (t_run == nullptr) return;  // a __device__ function called from host code
  const auto begin = reinterpret_cast<std::uintptr_t>(var);
  std::vector<SharedVar>& vars = t_run->shared;
  for (const SharedVar& v : vars) {
    if (v.begin == begin) return;
  }
  // The block's first thread to get here: nobody of the block can have touched the variable yet.
  if (poison_enabled()) std::memset(const_cast<void*>(var), 0xFF, bytes);
  vars.push_back(SharedVar{begin, bytes});
}

void device_fault(const char* message) {
  if (t_run != nullptr) record(*t_run, message);
}

}  // namespace cudaemu::detail
