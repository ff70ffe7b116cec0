#include "train/cuda_graph.h"

#include "core/config.h"
#include "core/error.h"

#if CUDANET_WITH_CUDA
#include <cstdio>
#include <exception>

#include <cuda_runtime.h>

#include "core/cuda/check.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#endif

namespace cudanet::train {

#if CUDANET_WITH_CUDA

CudaGraph::~CudaGraph() {
  abort_capture();
  reset();
}

void CudaGraph::begin_capture(const Stream& stream) {
  CUDANET_CHECK(stream.device().is_cuda() && stream.handle() != nullptr, ValueError,
                "CudaGraph: capture needs a non-default CUDA stream");
  CUDANET_CHECK(!is_capturing_, ValueError, "CudaGraph: already capturing");
  reset();
  cuda::DeviceGuard guard(stream.device().index());
  // The blocks the capture frees go back to the stream's pool while the graph keeps their
  // addresses: the stream's segments must stay reserved until the graph is dropped.
  cuda::retain_stream_segments(stream);
  const cudaError_t status = cudaStreamBeginCapture(static_cast<cudaStream_t>(stream.handle()),
                                                    cudaStreamCaptureModeRelaxed);
  if (status != cudaSuccess) {
    cuda::release_stream_segments(stream);
    CUDANET_CUDA_CHECK(status);
  }
  capturing_ = stream;
  is_capturing_ = true;
  retains_segments_ = true;
}

void CudaGraph::end_capture() {
  CUDANET_CHECK(is_capturing_, ValueError, "CudaGraph: end_capture without begin_capture");
  is_capturing_ = false;
  cuda::DeviceGuard guard(capturing_.device().index());
  cudaGraph_t graph = nullptr;
  const cudaError_t ended =
      cudaStreamEndCapture(static_cast<cudaStream_t>(capturing_.handle()), &graph);
  graph_ = graph;
  if (ended != cudaSuccess) {
    reset();  // drops a partial graph, if any, and the segments' retention
    CUDANET_CUDA_CHECK(ended);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  if (instantiated != cudaSuccess) {
    reset();
    CUDANET_CUDA_CHECK(instantiated);
  }
  exec_ = exec;
}

void CudaGraph::abort_capture() noexcept {
  if (!is_capturing_) return;
  is_capturing_ = false;
  cudaGraph_t graph = nullptr;
  // The capture may already be invalidated; the status only says so.
  (void)cudaStreamEndCapture(static_cast<cudaStream_t>(capturing_.handle()), &graph);
  if (graph) (void)cudaGraphDestroy(graph);
  (void)cudaGetLastError();  // do not leave the capture's error for an unrelated later check
  reset();                   // releases the segments' retention
}

void CudaGraph::replay(const Stream& stream) const {
  CUDANET_CHECK(exec_ != nullptr, ValueError, "CudaGraph: replay before a capture");
  cuda::DeviceGuard guard(stream.device().index());
  CUDANET_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_),
                                     static_cast<cudaStream_t>(stream.handle())));
}

void CudaGraph::reset() noexcept {
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = graph_ = nullptr;
  if (retains_segments_) {
    retains_segments_ = false;
    try {
      cuda::release_stream_segments(capturing_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cudanet: CudaGraph could not release its stream's segments: %s\n",
                   e.what());
    }
  }
}

#else  // CPU-only build

CudaGraph::~CudaGraph() = default;
void CudaGraph::begin_capture(const Stream&) {
  CUDANET_THROW(CudaError, "CUDA graphs need a CUDA build of cudanet");
}
void CudaGraph::end_capture() {
  CUDANET_THROW(CudaError, "CUDA graphs need a CUDA build");
}
void CudaGraph::abort_capture() noexcept {}
void CudaGraph::replay(const Stream&) const {
  CUDANET_THROW(CudaError, "CUDA graphs need a CUDA build of cudanet");
}
void CudaGraph::reset() noexcept {}

#endif

}  // namespace cudanet::train
