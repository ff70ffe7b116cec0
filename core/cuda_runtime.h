// The CUDA runtime as seen from the rest of cudanet (no CUDA headers needed to include this).
//
// Note: a CUDA build runs on machines without a GPU. There is_available() is false, every CPU
// path works, and asking for a CUDA device throws CudaError naming the reason. Any error from
// cudaGetDeviceCount (for example "driver version is insufficient" on a machine with the toolkit
// but no driver) means "no GPU"; the runtime's sticky error state is cleared so it cannot leak
// into later calls.
#pragma once

#include <cstddef>
#include <string>

namespace cudanet::cuda {

// True when the library was built with CUDA and at least one GPU can be used.
bool is_available();
// Number of usable GPUs (0 without a GPU or in a CPU-only build).
int device_count();
// Why no GPU is available ("" when one is), e.g. "built without CUDA" or the runtime's message.
std::string unavailable_reason();
// Throws CudaError unless device `index` exists.
void require_device(int index);

struct DeviceProperties {
  std::string name;
  int major = 0;
  int minor = 0;
  int multiprocessors = 0;
  std::size_t total_memory = 0;
};
DeviceProperties properties(int index);

// Waits for all work on device `index`.
void synchronize(int index);

// When on, every kernel launch check also synchronises the device, so an asynchronous fault is
// reported at the launch that caused it. Default: the CUDANET_SYNC_LAUNCHES build option, or the
// environment variable CUDANET_SYNC_LAUNCHES=1.
void set_sync_launches(bool on);
bool sync_launches();

// Makes `index` the calling thread's current device for the scope of the guard.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace cudanet::cuda
