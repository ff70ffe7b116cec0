// Storage: a reference-counted block of memory on one device.
//
// Tensors are views over a Storage; several tensors (a tensor and its reshapes, flattenings and
// narrowings) may share one. The memory returns to its allocator when the last tensor using it
// is gone. Note: CUDA memory belongs to the stream it was allocated on; before using it on
// another stream call record_stream, so the caching allocator does not hand it out again while
// that stream may still use it.
#pragma once

#include <cstddef>
#include <memory>

#include "core/allocator.h"
#include "core/device.h"
#include "core/stream.h"

namespace cudanet {

class Storage {
 public:
  Storage() = default;
  // Allocates `nbytes` on `device` for use on `stream` (the device's current stream if omitted).
  Storage(std::size_t nbytes, Device device);
  Storage(std::size_t nbytes, Device device, const Stream& stream);
  // Wraps memory that cudanet did not allocate (a DLPack producer's: NumPy, PyTorch, ...) of
  // `nbytes` bytes on data.device(); data's deleter hands it back to its owner. Note: the owner's
  // allocator knows nothing of cudanet's streams, so record_stream is a no-op for such storage;
  // whoever shares the memory orders the streams (the DLPack stream handshake does).
  static Storage from_external(DataPtr data, std::size_t nbytes);
  bool is_external() const { return impl_ != nullptr && impl_->external; }

  bool defined() const { return impl_ != nullptr; }
  void* data() const { return impl_ ? impl_->data.get() : nullptr; }
  std::size_t nbytes() const { return impl_ ? impl_->nbytes : 0; }
  Device device() const { return impl_ ? impl_->device : Device(); }
  long use_count() const { return impl_.use_count(); }
  // The memory is also used on `stream` (see the note above).
  void record_stream(const Stream& stream) const;

 private:
  struct Impl {
    DataPtr data;
    std::size_t nbytes = 0;
    Device device;
    bool external = false;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace cudanet
