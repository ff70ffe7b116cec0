#include "train/cuda_graph.h"

#include "core/config.h"
#include "core/error.h"

#if CUDANET_WITH_CUDA
#include <cuda_runtime.h>

#include "core/cuda/check.h"
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
  CUDANET_CUDA_CHECK(cudaStreamBeginCapture(static_cast<cudaStream_t>(stream.handle()),
                                            cudaStreamCaptureModeRelaxed));
  capturing_ = stream;
  is_capturing_ = true;
}

void CudaGraph::end_capture() {
  CUDANET_CHECK(is_capturing_, ValueError, "CudaGraph: end_capture without begin_capture");
  is_capturing_ = false;
  cudaGraph_t graph = nullptr;
  CUDANET_CUDA_CHECK(cudaStreamEndCapture(static_cast<cudaStream_t>(capturing_.handle()), &graph));
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  CUDANET_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
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
}

void CudaGraph::replay(const Stream& stream) const {
  CUDANET_CHECK(exec_ != nullptr, ValueError, "CudaGraph: replay before a capture");
  CUDANET_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_),
                                     static_cast<cudaStream_t>(stream.handle())));
}

void CudaGraph::reset() noexcept {
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = graph_ = nullptr;
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
