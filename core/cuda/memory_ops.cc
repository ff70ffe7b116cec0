#include "core/cuda/memory_ops.h"

#include "core/cuda/check.h"
#include "core/cuda_runtime.h"

namespace cudanet::cuda {

namespace {
cudaStream_t raw(const Stream& s) {
  return static_cast<cudaStream_t>(s.handle());
}
}  // namespace

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, const Stream& stream,
                         bool synchronize) {
  DeviceGuard guard(stream.device().index());
  CUDANET_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, raw(stream)));
  if (synchronize) CUDANET_CUDA_CHECK(cudaStreamSynchronize(raw(stream)));
}

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, const Stream& stream) {
  DeviceGuard guard(stream.device().index());
  CUDANET_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, raw(stream)));
  CUDANET_CUDA_CHECK(cudaStreamSynchronize(raw(stream)));
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, const Stream& stream) {
  DeviceGuard guard(stream.device().index());
  CUDANET_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, raw(stream)));
}

void copy_peer(void* dst, int dst_device, const void* src, int src_device, std::size_t nbytes,
               const Stream& stream) {
  DeviceGuard guard(dst_device);
  CUDANET_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, nbytes, raw(stream)));
}

}  // namespace cudanet::cuda
