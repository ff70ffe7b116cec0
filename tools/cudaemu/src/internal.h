// cudaemu internals shared by the runtime, the kernel scheduler and the cuBLAS stand-in.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cuda_runtime_api.h"

namespace cudaemu::detail {

// One stream operation: runs when the stream reaches it (at once, or at graph launch).
using Operation = std::function<cudaError_t()>;

// Runs op on `stream` now, or appends it to the stream's capture. Returns the error to report.
// `what` names the operation in the stream-order checker's reports.
cudaError_t enqueue(cudaStream_t stream, Operation op, const std::string& what);

// The capture sequence `stream` is recording (a number unique to it), or 0 when it is not
// capturing.
std::uint64_t capture_sequence(cudaStream_t stream);

// Makes the runtime's sticky error `status` (a fault: every later call fails) and prints why.
cudaError_t fault(cudaError_t status, const std::string& why);

// True when [p, p + bytes) lies inside one allocation the device can access (cudaMalloc or
// cudaHostAlloc); bytes == 0 accepts one-past-the-end pointers.
bool device_accessible(const void* p, std::size_t bytes);
// True when p lies inside a cudaMalloc allocation (the host must not touch it).
bool is_device_memory(const void* p);
// Whether memory nobody wrote reads as every bit set (CUDAEMU_POISON, on unless "0").
bool poison_enabled();

// While an Access object lives, device memory is readable and writable by this process (it is
// protected otherwise, so host code that dereferences a device pointer faults at once).
class Access {
 public:
  Access();
  ~Access();
  Access(const Access&) = delete;
  Access& operator=(const Access&) = delete;
};

// Runs every thread of the grid (block by block, each block's threads as fibers). Returns an
// empty string, or what went wrong (a divergent barrier, a deadlock, a misused collective).
std::string run_grid(dim3 grid, dim3 block, const std::function<void()>& body);

// ---- The data-race checker (racecheck.cc) -------------------------------------------------------
struct RaceShadow;  // what the checker knows of the memory the launch accessed
// A __shared__ variable the running block has reached the declaration of (shared_declared).
struct SharedVar {
  std::uintptr_t begin = 0;
  std::size_t bytes = 0;
};
// The fiber it watches, kept up to date by the scheduler while a checked kernel runs.
struct RaceThread {
  RaceShadow* shadow = nullptr;
  const std::vector<SharedVar>* shared = nullptr;  // the running block's __shared__ variables
  std::uintptr_t stack = 0;                        // the fiber's stack (its locals are its own)
  std::uint32_t block = 0;         // serial of the running block, counted per host thread
  std::uint32_t launch_first = 0;  // serial of the launch's first block
  std::uint32_t thread = 0;        // linear index in the block
  const std::uint64_t* block_generation = nullptr;  // barriers the block has passed
  const std::uint64_t* warp_generation = nullptr;   // barriers the thread's warp has passed
  dim3 block_dim;
  bool reported = false;  // one report per launch
  // The block's first read of __shared__ bytes it had not written (pc null: none yet). Reported
  // when the block ends without a race, which explains it better when there is one.
  struct {
    const void* pc = nullptr;
    std::uintptr_t addr = 0;
    std::size_t size = 0;
    std::uint32_t thread = 0;
    SharedVar var;
  } unwritten;
};
// Non-null while a thread of a checked kernel runs on this host thread.
extern thread_local RaceThread* t_race __attribute__((tls_model("initial-exec")));
// Whether launches are checked now (cudaemu::set_racecheck, CUDAEMU_RACECHECK=1).
bool racecheck_on();
// Serials for a new launch's blocks (begin_launch) and for each block (begin_block).
void race_begin_launch(RaceThread& t);
void race_begin_block(RaceThread& t);
// Ends a checked block: "" or the report of a read of shared memory the block never wrote first,
// when no race was reported instead.
std::string race_end_block(RaceThread& t);

// Both checkers shadow memory page by page, in 4-byte granules; the race checker hands the stream-
// order checker a launch's accesses as one bit per granule of a page (order_note_page).
constexpr std::size_t kShadowPageBytes = 4096;
constexpr std::size_t kShadowGranules = kShadowPageBytes / 4;

// Ends a checked launch: what its blocks touched goes to the stream-order checker. Returns "" or
// its report.
std::string race_end_launch(RaceThread& t);

// ---- The stream-order checker (streamcheck.cc) --------------------------------------------------
// Races between operations on different streams that no event, host synchronisation or implicit
// synchronisation orders. Operations are checked while the race checker is on.
struct StreamOpContext;
// While it lives, an operation issued on `stream` runs on this thread: it counts as the stream's
// next operation, ordered after what the stream and the host have waited for.
class StreamOp {
 public:
  StreamOp(cudaStream_t stream, const std::string& what);
  ~StreamOp();
  StreamOp(const StreamOp&) = delete;
  StreamOp& operator=(const StreamOp&) = delete;

 private:
  std::unique_ptr<StreamOpContext> context_;
};
// Whether the running operation is checked.
bool order_checking();
// The running kernel read the granules of the page at page_start whose bits are set in `reads`,
// and wrote those set in `writes` (kShadowGranules bits each). Returns "" or the report of a race.
std::string order_note_page(std::uintptr_t page_start, const std::uint64_t* reads,
                            const std::uint64_t* writes);
// A range an operation touched.
struct Touched {
  const void* p;
  std::size_t bytes;
  bool write;
};
// Notes each range for the running operation (if it is checked). Returns cudaSuccess, or the
// sticky fault (cudaErrorLaunchFailure) of the first race, after printing its report.
cudaError_t order_note_all(const std::vector<Touched>& ranges);
// After a copy read pinned host memory [p, p + bytes): until the host waits for the copy, the
// memory's pages are read-only, so host code that refills the buffer too early faults.
void order_guard_host_read(const void* p, std::size_t bytes);
// A fault at addr: true when it was a read-only page of a pending copy that may be written now
// (another buffer on the page, or a device operation running); false when it is not such a page,
// or when host code wrote the memory a pending copy reads (after printing why).
bool order_host_fault(const void* addr, bool device_operation_running);
// Memory that is freed has no history.
void order_forget(std::uintptr_t base, std::size_t bytes);
// What orders operations: streams, events, and host synchronisation.
void order_stream_created(cudaStream_t stream, unsigned flags);
void order_stream_destroyed(cudaStream_t stream);
void order_event_recorded(cudaEvent_t event, cudaStream_t stream);
void order_event_destroyed(cudaEvent_t event);
void order_stream_waits(cudaStream_t stream, cudaEvent_t event);
void order_host_waits_event(cudaEvent_t event);
void order_host_waits_stream(cudaStream_t stream);
void order_host_waits_all();

constexpr std::size_t kFiberStackBytes = 256 * 1024;

// The allocation (cudaMalloc or cudaHostAlloc) holding p: its base and size.
bool allocation_of(const void* p, std::uintptr_t* base, std::size_t* bytes);

// A float as TF32 tensor cores read it: float's 8 exponent bits and the top 10 of its 23 mantissa
// bits, the 13 low bits rounded to nearest, ties to even (NaN and infinity pass unchanged).
inline float round_to_tf32(float v) {
  if (!std::isfinite(v)) return v;
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  bits = (bits + 0x0FFFu + ((bits >> 13) & 1u)) & ~0x1FFFu;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// Whether a GPU would let FP32 math use TF32 when the library's setting allows it: not when the
// environment sets NVIDIA_TF32_OVERRIDE=0.
bool tf32_allowed_by_environment();

}  // namespace cudaemu::detail
