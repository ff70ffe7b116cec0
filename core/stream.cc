#include "core/stream.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/error.h"

#if CUDANET_WITH_CUDA
#include "core/cuda/check.h"
#endif

namespace cudanet {

#if CUDANET_WITH_CUDA

namespace {
cudaStream_t raw(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}
cudaEvent_t raw(const Event& e) {
  return static_cast<cudaEvent_t>(e.handle());
}

// Streams the process owns: created on first use, destroyed never (they are few, and work may
// still be queued on them while static destructors run).
struct StreamRegistry {
  std::mutex mutex;
  std::map<int, Stream> copy_streams;
};
StreamRegistry& registry() {
  static auto* r = new StreamRegistry();
  return *r;
}

thread_local std::map<int, Stream> t_current;
}  // namespace

void Stream::synchronize() const {
  if (device_.is_cpu()) return;
  cuda::DeviceGuard guard(device_.index());
  CUDANET_CUDA_CHECK(cudaStreamSynchronize(raw(*this)));
}

bool Stream::query() const {
  if (device_.is_cpu()) return true;
  cuda::DeviceGuard guard(device_.index());
  return CUDANET_CUDA_READY(cudaStreamQuery(raw(*this)));
}

bool Stream::is_capturing() const {
  if (device_.is_cpu()) return false;
  cuda::DeviceGuard guard(device_.index());
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDANET_CUDA_CHECK(cudaStreamIsCapturing(raw(*this), &status));
  return status != cudaStreamCaptureStatusNone;
}

void Stream::wait(const Event& event) const {
  if (device_.is_cpu() || !event.valid()) return;
  cuda::DeviceGuard guard(device_.index());
  CUDANET_CUDA_CHECK(cudaStreamWaitEvent(raw(*this), raw(event), 0));
}

Event::Event(Device device, bool timing) : device_(device) {
  if (device.is_cpu()) return;
  cuda::DeviceGuard guard(device.index());
  cudaEvent_t e = nullptr;
  CUDANET_CUDA_CHECK(
      cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  handle_ = e;
}

void Event::reset() noexcept {
  if (handle_ != nullptr) CUDANET_CUDA_CHECK_NOTHROW(cudaEventDestroy(raw(*this)));
  handle_ = nullptr;
  recorded_ = false;
}

void Event::record(const Stream& stream) {
  CUDANET_CHECK(stream.device() == device_, ValueError, "Event on ", device_,
                " recorded on a stream of ", stream.device());
  if (handle_ == nullptr) return;
  cuda::DeviceGuard guard(device_.index());
  CUDANET_CUDA_CHECK(cudaEventRecord(raw(*this), raw(stream)));
  recorded_ = true;
}

void Event::synchronize() const {
  if (handle_ == nullptr || !recorded_) return;
  CUDANET_CUDA_CHECK(cudaEventSynchronize(raw(*this)));
}

bool Event::query() const {
  if (handle_ == nullptr || !recorded_) return true;
  return CUDANET_CUDA_READY(cudaEventQuery(raw(*this)));
}

float Event::elapsed_ms(const Event& end) const {
  CUDANET_CHECK(handle_ != nullptr && end.handle_ != nullptr && recorded_ && end.recorded_,
                ValueError, "elapsed_ms needs two recorded CUDA events");
  float ms = 0.0f;
  CUDANET_CUDA_CHECK(cudaEventElapsedTime(&ms, raw(*this), raw(end)));
  return ms;
}

namespace cuda {

Stream default_stream(int device) {
  require_device(device);
  return Stream(Device::cuda(device), nullptr);
}

Stream current_stream(int device) {
  require_device(device);
  auto it = t_current.find(device);
  return it == t_current.end() ? default_stream(device) : it->second;
}

void set_current_stream(const Stream& stream) {
  CUDANET_CHECK(stream.device().is_cuda(), ValueError,
                "set_current_stream needs a CUDA stream, got one on ", stream.device());
  require_device(stream.device().index());
  t_current[stream.device().index()] = stream;
}

Stream new_stream(int device, bool non_blocking) {
  DeviceGuard guard(device);
  cudaStream_t s = nullptr;
  CUDANET_CUDA_CHECK(
      cudaStreamCreateWithFlags(&s, non_blocking ? cudaStreamNonBlocking : cudaStreamDefault));
  return Stream(Device::cuda(device), s);
}

Stream copy_stream(int device) {
  require_device(device);
  StreamRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.copy_streams.find(device);
  if (it == r.copy_streams.end()) it = r.copy_streams.emplace(device, new_stream(device)).first;
  return it->second;
}

}  // namespace cuda

#else  // CPU-only build: CPU streams are synchronous; CUDA streams cannot exist.

void Stream::synchronize() const {
  if (!device_.is_cpu()) cuda::require_device(device_.index());
}
bool Stream::query() const {
  if (!device_.is_cpu()) cuda::require_device(device_.index());
  return true;
}
void Stream::wait(const Event&) const {
  if (!device_.is_cpu()) cuda::require_device(device_.index());
}
bool Stream::is_capturing() const {
  return false;
}
Event::Event(Device device, bool) : device_(device) {
  if (!device.is_cpu()) cuda::require_device(device.index());
}
void Event::reset() noexcept {}
void Event::record(const Stream& stream) {
  CUDANET_CHECK(stream.device() == device_, ValueError, "Event on ", device_,
                " recorded on a stream of ", stream.device());
}
void Event::synchronize() const {}
bool Event::query() const {
  return true;
}
float Event::elapsed_ms(const Event&) const {
  CUDANET_THROW(ValueError, "elapsed_ms needs two recorded CUDA events");
}

namespace cuda {
Stream default_stream(int device) {
  require_device(device);
  return {};
}
Stream current_stream(int device) {
  return default_stream(device);
}
void set_current_stream(const Stream& stream) {
  require_device(stream.device().index());
}
Stream copy_stream(int device) {
  return default_stream(device);
}
Stream new_stream(int device, bool) {
  return default_stream(device);
}
}  // namespace cuda

#endif

Event::~Event() {
  reset();
}

Event::Event(Event&& other) noexcept
    : device_(other.device_),
      handle_(std::exchange(other.handle_, nullptr)),
      recorded_(std::exchange(other.recorded_, false)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    handle_ = std::exchange(other.handle_, nullptr);
    recorded_ = std::exchange(other.recorded_, false);
  }
  return *this;
}

Stream current_stream(Device device) {
  return device.is_cpu() ? Stream() : cuda::current_stream(device.index());
}

namespace cuda {
StreamGuard::StreamGuard(const Stream& stream) : previous_(current_stream(stream.device())) {
  if (stream.device().is_cuda()) set_current_stream(stream);
}
StreamGuard::~StreamGuard() {
  if (previous_.device().is_cuda()) {
    try {
      set_current_stream(previous_);
    } catch (...) {  // cannot fail for a stream that was current before; never throw here
    }
  }
}
}  // namespace cuda

}  // namespace cudanet
