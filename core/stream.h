// Stream and Event: ordering of device work.
//
// A Stream is a cheap, copyable value: a device plus the native handle (cudaStream_t) of a
// queue of work on it. Streams are owned by the process (the default stream, each device's copy
// stream, and those made by cuda::new_stream live until exit), so a Stream value never dangles.
// The CPU stream (a default-constructed Stream) runs everything synchronously.
//
// An Event is a move-only owner of a cudaEvent_t: record it on a stream, then wait for it from
// the host (synchronize, query) or from another stream (Stream::wait), or time between two.
//
// Note: each device has a current compute stream per thread (the default stream unless changed
// with StreamGuard) and one separate copy stream for prefetching data while compute runs.
#pragma once

#include <cstdint>

#include "core/device.h"

namespace cudanet {

class Event;

class Stream {
 public:
  Stream() = default;  // the CPU stream
  Stream(Device device, void* handle) : device_(device), handle_(handle) {}

  Device device() const { return device_; }
  void* handle() const { return handle_; }  // cudaStream_t; nullptr is the default stream
  std::uintptr_t id() const { return reinterpret_cast<std::uintptr_t>(handle_); }

  void synchronize() const;             // waits for all work queued so far
  bool query() const;                   // true when all queued work has finished
  void wait(const Event& event) const;  // later work on this stream waits for `event`
  // True while a CUDA graph capture records this stream's work (nothing may synchronise with the
  // host then, e.g. a device-to-host copy); always false for the CPU stream.
  bool is_capturing() const;

  friend bool operator==(const Stream& a, const Stream& b) {
    return a.device_ == b.device_ && a.handle_ == b.handle_;
  }
  friend bool operator!=(const Stream& a, const Stream& b) { return !(a == b); }

 private:
  Device device_;
  void* handle_ = nullptr;
};

class Event {
 public:
  Event() = default;  // holds no event
  // Creates an event on `device`; `timing` enables elapsed_ms (slightly slower to record).
  explicit Event(Device device, bool timing = false);
  ~Event();
  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(const Stream& stream);
  void synchronize() const;
  bool query() const;  // true when the recorded work has finished (or nothing was recorded)
  // Milliseconds between this event and a later `end`; both must be timing events.
  float elapsed_ms(const Event& end) const;

  bool valid() const { return handle_ != nullptr; }
  Device device() const { return device_; }
  void* handle() const { return handle_; }

 private:
  void reset() noexcept;
  Device device_;
  void* handle_ = nullptr;
  bool recorded_ = false;
};

// The stream operations on `device` go to by default: the CPU stream for the CPU, the calling
// thread's current stream for a GPU.
Stream current_stream(Device device);

namespace cuda {
Stream default_stream(int device = 0);
Stream current_stream(int device = 0);
void set_current_stream(const Stream& stream);
Stream copy_stream(int device = 0);
// A new stream owned by the process; non-blocking streams do not synchronise with stream 0.
Stream new_stream(int device = 0, bool non_blocking = true);

// Makes `stream` current on its device for this thread until the guard ends.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};
}  // namespace cuda

}  // namespace cudanet
