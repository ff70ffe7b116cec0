// cuDNN handles (one per thread, device and stream) and the shared helpers of kernels/cudnn/.
//
// Note: a handle is bound to its stream once, when it is created, and never rebound, so work
// queued through it always lands on that stream; cudnnCreate is costly (it loads kernels and may
// allocate), which is why no op creates one per call. Handles are per thread because cuDNN does
// not allow one handle to be used from two threads at once. They are destroyed when their thread
// ends (errors ignored: at process exit the driver may already be gone).
#include <map>
#include <utility>

#include "core/cuda_runtime.h"
#include "kernels/cudnn.h"
#include "kernels/cudnn/common.h"

namespace cudanet::kernels::cudnn {

namespace {

class HandleCache {
 public:
  HandleCache() = default;
  HandleCache(const HandleCache&) = delete;
  HandleCache& operator=(const HandleCache&) = delete;
  ~HandleCache() {
    for (auto& entry : handles_) (void)cudnnDestroy(entry.second);
  }

  cudnnHandle_t get(const Stream& stream) {
    const std::pair<int, void*> key{stream.device().index(), stream.handle()};
    auto it = handles_.find(key);
    if (it != handles_.end()) return it->second;
    ::cudanet::cuda::DeviceGuard guard(key.first);
    cudnnHandle_t h = nullptr;
    CUDANET_CUDNN_CHECK(cudnnCreate(&h));
    const cudnnStatus_t bound = cudnnSetStream(h, static_cast<cudaStream_t>(key.second));
    if (bound != CUDNN_STATUS_SUCCESS) (void)cudnnDestroy(h);
    CUDANET_CUDNN_CHECK(bound);
    handles_.emplace(key, h);
    return h;
  }

  std::size_t size() const { return handles_.size(); }

 private:
  std::map<std::pair<int, void*>, cudnnHandle_t> handles_;
};

HandleCache& cache() {
  thread_local HandleCache c;
  return c;
}

}  // namespace

std::string version() {
  const std::size_t v = cudnnGetVersion();  // major * 10000 + minor * 100 + patch (cuDNN 9)
  return ::cudanet::detail::str(v / 10000, ".", (v % 10000) / 100, ".", v % 100);
}

std::size_t handle_count() {
  return cache().size();
}

namespace detail {

cudnnHandle_t handle(const Stream& stream) {
  return cache().get(stream);
}

void check_cuda_float(const Tensor& t, const char* op, const char* name) {
  CUDANET_CHECK(t.defined(), ValueError, op, ": ", name, " is undefined");
  CUDANET_CHECK(t.device().is_cuda(), ValueError, op, ": ", name,
                " must be a CUDA tensor for the cuDNN backend, got one on ", t.device());
  CUDANET_CHECK(t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64, ValueError, op, ": ",
                name, " must be float32 or float64, got ", t.dtype());
  CUDANET_CHECK(t.is_contiguous(), ValueError, op, ": ", name, " must be contiguous");
}

TensorDescriptor tensor_4d(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                           DType dtype, const char* op) {
  CUDANET_CHECK(n * c * h * w <= INT_MAX, ValueError, op, ": tensor [", n, ", ", c, ", ", h, ", ",
                w, "] has more elements than cuDNN indexes (int)");
  TensorDescriptor d;
  CUDANET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, data_type(dtype),
                                                 to_int(n, op), to_int(c, op), to_int(h, op),
                                                 to_int(w, op)));
  return d;
}

}  // namespace detail
}  // namespace cudanet::kernels::cudnn
