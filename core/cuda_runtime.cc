#include "core/cuda_runtime.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "core/config.h"
#include "core/error.h"

#if CUDANET_WITH_CUDA
#include "core/cuda/check.h"
#endif

namespace cudanet::cuda {

namespace {

struct Availability {
  int count = 0;
  std::string reason;
};

const Availability& availability() {
  static const Availability info = [] {
    Availability a;
#if CUDANET_WITH_CUDA
    int n = 0;
    const cudaError_t status = cudaGetDeviceCount(&n);
    if (status != cudaSuccess) {
      // No driver, no device, or a driver too old: all mean "no GPU" here. Clear the error so
      // that it does not surface from a later, unrelated cudaGetLastError().
      (void)cudaGetLastError();
      a.reason = std::string("CUDA runtime reports: ") + cudaGetErrorString(status);
    } else if (n == 0) {
      a.reason = "no CUDA device found";
    }
    a.count = status == cudaSuccess ? n : 0;
#else
    a.reason = "cudanet was built without CUDA (CUDANET_CUDA=OFF or no toolkit)";
#endif
    return a;
  }();
  return info;
}

std::atomic<bool>& sync_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("CUDANET_SYNC_LAUNCHES");
    if (env != nullptr && *env != '\0') return std::string(env) != "0";
    return static_cast<bool>(CUDANET_SYNC_LAUNCHES);
  }();
  return flag;
}

}  // namespace

bool is_available() {
  return availability().count > 0;
}
int device_count() {
  return availability().count;
}
std::string unavailable_reason() {
  return availability().reason;
}

void require_device(int index) {
  const Availability& a = availability();
  if (a.count == 0) CUDANET_THROW(CudaError, "CUDA device ", index, " requested: ", a.reason);
  CUDANET_CHECK(index >= 0 && index < a.count, CudaError, "CUDA device ", index,
                " requested but only ", a.count, " device(s) exist");
}

void set_sync_launches(bool on) {
  sync_flag().store(on);
}
bool sync_launches() {
  return sync_flag().load();
}

#if CUDANET_WITH_CUDA

DeviceProperties properties(int index) {
  require_device(index);
  cudaDeviceProp p{};
  CUDANET_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  DeviceProperties out;
  out.name = p.name;
  out.major = p.major;
  out.minor = p.minor;
  out.multiprocessors = p.multiProcessorCount;
  out.total_memory = p.totalGlobalMem;
  return out;
}

void synchronize(int index) {
  DeviceGuard guard(index);
  CUDANET_CUDA_CHECK(cudaDeviceSynchronize());
}

DeviceGuard::DeviceGuard(int index) {
  require_device(index);
  CUDANET_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index) CUDANET_CUDA_CHECK(cudaSetDevice(index));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  CUDANET_CUDA_CHECK_NOTHROW(cudaGetDevice(&now));
  if (previous_ >= 0 && now != previous_) CUDANET_CUDA_CHECK_NOTHROW(cudaSetDevice(previous_));
}

#else  // CPU-only build: every entry point that needs a GPU throws.

DeviceProperties properties(int index) {
  require_device(index);
  return {};
}
void synchronize(int index) {
  require_device(index);
}
DeviceGuard::DeviceGuard(int index) {
  require_device(index);
}
DeviceGuard::~DeviceGuard() = default;

#endif

}  // namespace cudanet::cuda
