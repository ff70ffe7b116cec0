#include "core/storage.h"

#include "core/error.h"

namespace cudanet {

Storage::Storage(std::size_t nbytes, Device device)
    : Storage(nbytes, device, current_stream(device)) {}

Storage::Storage(std::size_t nbytes, Device device, const Stream& stream)
    : impl_(std::make_shared<Impl>()) {
  CUDANET_CHECK(stream.device() == device, ValueError, "storage on ", device,
                " allocated for a stream of ", stream.device());
  impl_->data = get_allocator(device).allocate(nbytes, stream);
  impl_->nbytes = nbytes;
  impl_->device = device;
}

Storage Storage::from_external(DataPtr data, std::size_t nbytes) {
  Storage s;
  s.impl_ = std::make_shared<Impl>();
  s.impl_->device = data.device();
  s.impl_->data = std::move(data);
  s.impl_->nbytes = nbytes;
  s.impl_->external = true;
  return s;
}

void Storage::record_stream(const Stream& stream) const {
  if (impl_ && impl_->data && impl_->device.is_cuda() && !impl_->external) {
    get_allocator(impl_->device).record_stream(impl_->data.get(), stream);
  }
}

}  // namespace cudanet
