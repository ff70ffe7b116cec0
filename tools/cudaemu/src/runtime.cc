// cudaemu: the CUDA runtime API on the CPU. Every stream operation runs synchronously on the
// calling thread (or is recorded, under stream capture, and run at graph launch); memory is host
// memory that is protected against host access outside the runtime's own operations.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <signal.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "cudaemu/device.h"
#include "internal.h"

struct CUstream_st {
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;
  std::uint64_t capture_id = 0;  // of the current (or last) capture sequence, counted from 1
  std::vector<cudaemu::detail::Operation> captured;
};
struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
  // Last recorded into this capture sequence of this stream (nullptr: recorded eagerly). While
  // that capture goes on, the host may not query or wait for the event.
  cudaStream_t captured_on = nullptr;
  std::uint64_t capture_id = 0;
};
struct CUgraph_st {
  std::vector<cudaemu::detail::Operation> operations;
};
struct CUgraphExec_st {
  std::vector<cudaemu::detail::Operation> operations;
};

namespace cudaemu::detail {
namespace {

struct Allocation {
  std::size_t bytes = 0;   // what was asked for
  std::size_t mapped = 0;  // whole pages
  bool device = false;     // cudaMalloc (else cudaHostAlloc)
  bool open = false;       // unprotected for the device operations running now
};

struct State {
  std::mutex mutex;
  std::map<std::uintptr_t, Allocation> allocations;
  std::size_t device_bytes = 0;
  int access_depth = 0;
  std::set<cudaStream_t> capturing;  // the streams whose capture is under way
  std::uint64_t captures_begun = 0;
  cudaError_t sticky = cudaSuccess;
};

State& state() {
  static State* s = new State;  // never destroyed: streams and frees may come at exit
  return *s;
}

thread_local cudaError_t t_last_error = cudaSuccess;
// The last kernel launch of this thread that no cudaGetLastError / cudaPeekAtLastError has
// checked yet ("" when none): cudanet checks every launch (CUDANET_LAUNCH_CHECK).
thread_local std::string t_unchecked_launch;

// Faults when a launch went unchecked before `next` (another launch, a copy, a synchronisation).
bool launch_was_checked(const std::string& next) {
  if (t_unchecked_launch.empty()) return true;
  const std::string site = t_unchecked_launch;
  t_unchecked_launch.clear();
  fault(cudaErrorLaunchFailure, "the kernel launched at " + site +
                                    " was not followed by a launch check (cudaGetLastError) "
                                    "before " +
                                    next);
  return false;
}

std::size_t env_bytes(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) << 20;  // MiB
}

std::size_t capacity() {
  static const std::size_t bytes = env_bytes("CUDAEMU_MEMORY_MIB", std::size_t{4} << 30);
  return bytes;
}

// An on-by-default switch: off only when the variable is "0".
bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr || std::strcmp(v, "0") != 0;
}

bool protect_enabled() {
  static const bool on = env_on("CUDAEMU_PROTECT");
  return on;
}

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

Allocation* find(State& s, const void* p, std::size_t bytes, std::uintptr_t* base);

// Device memory is PROT_NONE. A device operation's first touch of an allocation faults here and
// opens it (the access is retried); when the last running operation ends, the opened allocations
// close again. Host code that touches device memory with no operation running faults for real,
// after a message. (std::mutex in a signal handler: the faulting code never holds it.)
void on_segv(int sig, siginfo_t* info, void*) {
  State& s = state();
  bool device = false;
  bool operation_running = false;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    std::uintptr_t base = 0;
    Allocation* a = find(s, info->si_addr, 1, &base);
    device = a != nullptr && a->device;
    operation_running = s.access_depth > 0;
    if (device && s.access_depth > 0 && !a->open) {
      mprotect(reinterpret_cast<void*>(base), a->mapped, PROT_READ | PROT_WRITE);
      a->open = true;
      return;
    }
  }
  // Pinned memory that a pending copy reads is read-only (streamcheck.cc).
  if (!device && order_host_fault(info->si_addr, operation_running)) return;
  static const char msg[] =
      "cudaemu: host code accessed device memory (a cudaMalloc pointer dereferenced outside a "
      "kernel or copy)\n";
  if (device) {
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
  }
  signal(sig, SIG_DFL);
}

void install_segv_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, nullptr);
  });
}

// The allocation containing p (or ending at p when bytes == 0), under s.mutex.
Allocation* find(State& s, const void* p, std::size_t bytes, std::uintptr_t* base) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto it = s.allocations.upper_bound(addr);
  if (it == s.allocations.begin()) return nullptr;
  --it;
  const std::uintptr_t end = it->first + it->second.bytes;
  if (addr > end || (bytes > 0 && (addr == end || bytes > end - addr))) return nullptr;
  if (base != nullptr) *base = it->first;
  return &it->second;
}

// Returns status, remembering a failure for cudaGetLastError.
cudaError_t fail(cudaError_t status) {
  if (status != cudaSuccess) t_last_error = status;
  return status;
}

// The sticky error, if any: once a kernel faulted, every call fails (as on a GPU).
#define CUDAEMU_STICKY()                              \
  do {                                                \
    const cudaError_t sticky_ = state().sticky;       \
    if (sticky_ != cudaSuccess) return fail(sticky_); \
  } while (0)

cudaError_t allocate(void** ptr, std::size_t size, bool device) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (device && size > capacity() - std::min(capacity(), s.device_bytes)) {
    return fail(cudaErrorMemoryAllocation);
  }
  const std::size_t mapped = (size + page_size() - 1) / page_size() * page_size();
  const bool protect = device && protect_enabled();
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
  // New device memory holds garbage, not zeros: all bits set (NaN as float or double, -1 as an
  // integer), so a kernel that reads what nobody wrote gives a visibly wrong result.
  if (device && poison_enabled()) std::memset(m, 0xFF, size);
  if (protect) mprotect(m, mapped, PROT_NONE);
  s.allocations[reinterpret_cast<std::uintptr_t>(m)] = Allocation{size, mapped, device, false};
  if (device) s.device_bytes += size;
  if (protect_enabled()) install_segv_handler();
  *ptr = m;
  return cudaSuccess;
}

cudaError_t release(void* ptr, bool device) {
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mutex);
  auto it = s.allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == s.allocations.end() || it->second.device != device) {
    return fail(cudaErrorInvalidValue);
  }
  const std::size_t mapped = it->second.mapped;
  munmap(ptr, mapped);
  if (device) s.device_bytes -= it->second.bytes;
  s.allocations.erase(it);
  lock.unlock();
  order_forget(reinterpret_cast<std::uintptr_t>(ptr), mapped);
  return cudaSuccess;
}

// Is [p, p + n) acceptable as the device side (device_side) or the host side of a copy?
bool side_ok(const void* p, std::size_t n, bool device_side) {
  if (device_side) return device_accessible(p, n);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const Allocation* a = find(s, p, 0, nullptr);
  return a == nullptr || !a->device;  // host memory: anything but cudaMalloc memory
}

cudaError_t check_copy(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind) {
  if (n == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return cudaErrorInvalidValue;
  bool dst_device = false, src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost:
      break;
    case cudaMemcpyHostToDevice:
      dst_device = true;
      break;
    case cudaMemcpyDeviceToHost:
      src_device = true;
      break;
    case cudaMemcpyDeviceToDevice:
      dst_device = src_device = true;
      break;
    case cudaMemcpyDefault:
      dst_device = is_device_memory(dst);
      src_device = is_device_memory(src);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  if (!side_ok(dst, n, dst_device) || !side_ok(src, n, src_device)) {
    return fault(cudaErrorInvalidValue,
                 "a copy of " + std::to_string(n) +
                     " bytes whose source or destination is not "
                     "memory of the kind the copy names (or runs past the end of its allocation)");
  }
  return cudaSuccess;
}

// cudaMemcpy (sync: the host waits for it) or cudaMemcpyAsync.
cudaError_t copy(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind,
                 cudaStream_t stream, bool sync) {
  if (!launch_was_checked("a copy")) return fail(cudaErrorLaunchFailure);
  CUDAEMU_STICKY();
  if (const cudaError_t e = check_copy(dst, src, n, kind); e != cudaSuccess) return fail(e);
  if (n == 0) return cudaSuccess;
  const char* kinds[] = {"host to host", "host to device", "device to host", "device to device",
                         "default"};
  const std::string what = std::string(sync ? "cudaMemcpy" : "cudaMemcpyAsync") + " (" +
                           kinds[kind] + ", " + std::to_string(n) + " bytes)";
  const cudaError_t status = enqueue(
      stream,
      [dst, src, n] {
        {
          Access access;
          std::memmove(dst, src, n);
        }
        const cudaError_t status = order_note_all({{src, n, false}, {dst, n, true}});
        if (status == cudaSuccess && protect_enabled()) order_guard_host_read(src, n);
        return status;
      },
      what);
  if (status == cudaSuccess && sync) order_host_waits_stream(stream);
  return fail(status);
}

cudaError_t set(void* ptr, int value, std::size_t n, cudaStream_t stream, bool sync) {
  CUDAEMU_STICKY();
  if (n == 0) return cudaSuccess;
  if (!device_accessible(ptr, n)) {
    return fail(fault(cudaErrorInvalidValue, "cudaMemset outside a device allocation"));
  }
  const std::string what =
      std::string(sync ? "cudaMemset" : "cudaMemsetAsync") + " (" + std::to_string(n) + " bytes)";
  const cudaError_t status = enqueue(
      stream,
      [ptr, value, n] {
        {
          Access access;
          std::memset(ptr, value, n);
        }
        return order_note_all({{ptr, n, true}});
      },
      what);
  if (status == cudaSuccess && sync) order_host_waits_stream(stream);
  return fail(status);
}

}  // namespace

bool poison_enabled() {
  static const bool on = env_on("CUDAEMU_POISON");
  return on;
}

Access::Access() {
  if (!protect_enabled()) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.access_depth;
}

Access::~Access() {
  if (!protect_enabled()) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.access_depth > 0) return;
  for (auto& [base, a] : s.allocations) {
    if (!a.open) continue;
    mprotect(reinterpret_cast<void*>(base), a.mapped, PROT_NONE);
    a.open = false;
  }
}

bool tf32_allowed_by_environment() {
  static const bool on = env_on("NVIDIA_TF32_OVERRIDE");
  return on;
}

bool device_accessible(const void* p, std::size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return find(s, p, bytes, nullptr) != nullptr;
}

bool allocation_of(const void* p, std::uintptr_t* base, std::size_t* bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::uintptr_t b = 0;
  const Allocation* a = find(s, p, 1, &b);
  if (a == nullptr) return false;
  if (base != nullptr) *base = b;
  if (bytes != nullptr) *bytes = a->bytes;
  return true;
}

bool is_device_memory(const void* p) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const Allocation* a = find(s, p, 1, nullptr);
  return a != nullptr && a->device;
}

cudaError_t fault(cudaError_t status, const std::string& why) {
  std::fprintf(stderr, "cudaemu: %s\n", why.c_str());
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.sticky == cudaSuccess) s.sticky = status;
  return status;
}

std::uint64_t capture_sequence(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(state().mutex);
  return stream != nullptr && stream->capturing ? stream->capture_id : 0;
}

cudaError_t enqueue(cudaStream_t stream, Operation op, const std::string& what) {
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (stream != nullptr && stream->capturing) {
      if (!stream->invalidated) stream->captured.push_back(std::move(op));
      return cudaSuccess;
    }
    if (stream == nullptr && !s.capturing.empty()) {
      // The legacy default stream synchronises with every blocking stream, a capturing one
      // included: CUDA refuses the operation.
      return cudaErrorStreamCaptureImplicit;
    }
  }
  StreamOp running(stream, what);
  return op();
}

void launch(const char* file, int line, dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, std::function<void()> body, std::vector<const void*> pointers) {
  const std::string site = std::string(file) + ":" + std::to_string(line);
  if (!launch_was_checked("the launch at " + site)) return;
  t_unchecked_launch = site;
  if (state().sticky != cudaSuccess) {
    fail(state().sticky);
    return;
  }
  const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
    std::fprintf(stderr, "cudaemu: invalid launch configuration at %s\n", site.c_str());
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (shared_bytes > 48 * 1024) {
    std::fprintf(stderr, "cudaemu: %zu bytes of dynamic shared memory at %s\n", shared_bytes,
                 site.c_str());
    fail(cudaErrorInvalidValue);
    return;
  }
  for (std::size_t i = 0; i < pointers.size(); ++i) {
    if (pointers[i] != nullptr && !device_accessible(pointers[i], 0)) {
      fail(fault(cudaErrorIllegalAddress, "the kernel launched at " + site +
                                              " got a pointer argument that is not device "
                                              "memory (pointer #" +
                                              std::to_string(i + 1) + ")"));
      return;
    }
  }
  const cudaError_t status = enqueue(
      stream,
      [grid, block, body = std::move(body), site] {
        Access access;
        const std::string error = run_grid(grid, block, body);
        if (error.empty()) return cudaSuccess;
        return fault(cudaErrorLaunchFailure,
                     "the kernel launched at " + site + " failed: " + error);
      },
      "the kernel launched at " + site);
  if (status != cudaSuccess) fail(status);
}

}  // namespace cudaemu::detail

using cudaemu::detail::fail;
using cudaemu::detail::state;

extern "C" {

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError:
      return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched:
      return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureImplicit:
      return "cudaErrorStreamCaptureImplicit";
    case cudaErrorStreamCaptureWrongThread:
      return "cudaErrorStreamCaptureWrongThread";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    default:
      return cudaGetErrorName(error);
  }
}

cudaError_t cudaGetLastError() {
  cudaemu::detail::t_unchecked_launch.clear();
  const cudaError_t e = cudaemu::detail::t_last_error;
  cudaemu::detail::t_last_error = cudaSuccess;
  return e != cudaSuccess ? e : state().sticky;
}

cudaError_t cudaPeekAtLastError() {
  cudaemu::detail::t_unchecked_launch.clear();
  const cudaError_t e = cudaemu::detail::t_last_error;
  return e != cudaSuccess ? e : state().sticky;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "cudaemu (CPU emulation of an sm_90 device)");
  prop->totalGlobalMem = cudaemu::detail::capacity();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->l2CacheSize = 50 << 20;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return fail(cudaErrorInvalidValue);
  cudaDeviceProp p;
  if (const cudaError_t e = cudaGetDeviceProperties(&p, device); e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock:
      *value = p.maxThreadsPerBlock;
      return cudaSuccess;
    case cudaDevAttrMultiProcessorCount:
      *value = p.multiProcessorCount;
      return cudaSuccess;
    case cudaDevAttrL2CacheSize:
      *value = p.l2CacheSize;
      return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}

cudaError_t cudaDeviceSynchronize() {
  if (!cudaemu::detail::launch_was_checked("cudaDeviceSynchronize")) {
    return fail(cudaErrorLaunchFailure);
  }
  CUDAEMU_STICKY();
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (!state().capturing.empty()) {
      // Synchronising with a stream under capture is illegal, and invalidates its capture.
      for (cudaStream_t s : state().capturing) s->invalidated = true;
      return fail(cudaErrorStreamCaptureUnsupported);
    }
  }
  cudaemu::detail::order_host_waits_all();
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total) {
  if (free == nullptr || total == nullptr) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(state().mutex);
  *total = cudaemu::detail::capacity();
  *free = *total - std::min(*total, state().device_bytes);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, std::size_t size) {
  CUDAEMU_STICKY();
  return cudaemu::detail::allocate(ptr, size, true);
}
cudaError_t cudaFree(void* ptr) {
  return cudaemu::detail::release(ptr, true);
}
cudaError_t cudaHostAlloc(void** ptr, std::size_t size, unsigned) {
  return cudaemu::detail::allocate(ptr, size, false);
}
cudaError_t cudaMallocHost(void** ptr, std::size_t size) {
  return cudaemu::detail::allocate(ptr, size, false);
}
cudaError_t cudaFreeHost(void* ptr) {
  return cudaemu::detail::release(ptr, false);
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  return cudaemu::detail::copy(dst, src, count, kind, nullptr, true);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return cudaemu::detail::copy(dst, src, count, kind, stream, false);
}
cudaError_t cudaMemcpyPeerAsync(void* dst, int dst_device, const void* src, int src_device,
                                std::size_t count, cudaStream_t stream) {
  if (dst_device != 0 || src_device != 0) return fail(cudaErrorInvalidDevice);
  return cudaemu::detail::copy(dst, src, count, cudaMemcpyDeviceToDevice, stream, false);
}
cudaError_t cudaMemset(void* ptr, int value, std::size_t count) {
  return cudaemu::detail::set(ptr, value, count, nullptr, true);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t count, cudaStream_t stream) {
  return cudaemu::detail::set(ptr, value, count, stream, false);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (stream == nullptr) return fail(cudaErrorInvalidValue);
  *stream = new CUstream_st;
  (*stream)->flags = flags;
  cudaemu::detail::order_stream_created(*stream, flags);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    state().capturing.erase(stream);
  }
  cudaemu::detail::order_stream_destroyed(stream);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!cudaemu::detail::launch_was_checked("a stream synchronisation")) {
    return fail(cudaErrorLaunchFailure);
  }
  CUDAEMU_STICKY();
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (stream != nullptr && stream->capturing) {
      stream->invalidated = true;
      return fail(cudaErrorStreamCaptureUnsupported);
    }
  }
  cudaemu::detail::order_host_waits_stream(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return cudaStreamSynchronize(stream);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  CUDAEMU_STICKY();
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (cudaemu::detail::capture_sequence(stream) == 0) {
    cudaemu::detail::order_stream_waits(stream, event);
  }
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  CUDAEMU_STICKY();
  if (stream == nullptr) return fail(cudaErrorStreamCaptureUnsupported);  // not the legacy one
  std::lock_guard<std::mutex> lock(state().mutex);
  if (stream->capturing) return fail(cudaErrorIllegalState);
  stream->capturing = true;
  stream->invalidated = false;
  stream->captured.clear();
  stream->capture_id = ++state().captures_begun;
  state().capturing.insert(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (stream == nullptr || graph == nullptr) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(state().mutex);
  *graph = nullptr;
  if (!stream->capturing) return fail(cudaErrorIllegalState);
  stream->capturing = false;
  state().capturing.erase(stream);
  if (stream->invalidated) {
    stream->captured.clear();
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(stream->captured)};
  stream->captured.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (status == nullptr) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(state().mutex);
  *status = stream == nullptr || !stream->capturing ? cudaStreamCaptureStatusNone
            : stream->invalidated                   ? cudaStreamCaptureStatusInvalidated
                                                    : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (event == nullptr) return fail(cudaErrorInvalidValue);
  *event = new CUevent_st;
  (*event)->flags = flags;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  cudaemu::detail::order_event_destroyed(event);
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  CUDAEMU_STICKY();
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    const bool captured = stream != nullptr && stream->capturing;
    event->captured_on = captured ? stream : nullptr;
    event->capture_id = captured ? stream->capture_id : 0;
  }
  const cudaError_t status = cudaemu::detail::enqueue(
      stream,
      [event] {
        event->recorded = true;
        event->time = std::chrono::steady_clock::now();
        return cudaSuccess;
      },
      "cudaEventRecord");
  if (status == cudaSuccess && cudaemu::detail::capture_sequence(stream) == 0) {
    cudaemu::detail::order_event_recorded(event, stream);
  }
  return fail(status);
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  CUDAEMU_STICKY();
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    // CUDA forbids waiting for (or querying) an event last recorded inside a capture that is
    // still going on, even in relaxed mode: the capture is invalidated.
    cudaStream_t s = event->captured_on;
    if (s != nullptr && state().capturing.count(s) != 0 && s->capture_id == event->capture_id) {
      s->invalidated = true;
      return fail(cudaErrorStreamCaptureUnsupported);
    }
  }
  cudaemu::detail::order_host_waits_event(event);
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return cudaEventQuery(event);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  CUDAEMU_STICKY();
  if (ms == nullptr || start == nullptr || end == nullptr) return fail(cudaErrorInvalidValue);
  if ((start->flags | end->flags) & cudaEventDisableTiming) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  CUDAEMU_STICKY();
  if (exec == nullptr || graph == nullptr) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->operations};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  CUDAEMU_STICKY();
  if (exec == nullptr) return fail(cudaErrorInvalidValue);
  const std::vector<cudaemu::detail::Operation> ops = exec->operations;
  return fail(cudaemu::detail::enqueue(
      stream,
      [ops] {
        for (const auto& op : ops) {
          if (const cudaError_t e = op(); e != cudaSuccess) return e;
        }
        return cudaSuccess;
      },
      "the CUDA graph launched"));
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

}  // extern "C"
