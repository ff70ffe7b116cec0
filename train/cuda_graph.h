// CudaGraph: a stream's work captured once (cudaStreamBeginCapture .. EndCapture), instantiated,
// and replayed with one launch.
//
// Note: capture runs in relaxed mode, so the caching allocator may still query its events and
// (before warm-up has filled its cache) call cudaMalloc while a step is being captured. Kernels
// are recorded, not run: the first replay performs the captured work. Everything a captured
// kernel reads or writes must stay allocated, at the same address, for as long as the graph is
// replayed (see train/train_step.h for how the trainer guarantees it). From begin_capture until
// the graph is dropped (reset, abort_capture, a new capture, destruction) the caching allocator
// keeps the capture stream's segments reserved (cuda::retain_stream_segments), so neither
// empty_cache() nor an out-of-memory flush elsewhere can hand the graph's memory back to the
// driver. In a CPU-only build, or without a GPU, begin_capture throws CudaError.
#pragma once

#include "core/stream.h"

namespace cudanet::train {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Starts recording the work queued on `stream` (not the legacy default stream).
  void begin_capture(const Stream& stream);
  // Ends the capture and instantiates the graph. Throws CudaError when the captured work was
  // illegal (e.g. a host synchronisation inside the capture).
  void end_capture();
  // Ends a capture that failed part-way, discarding it (never throws).
  void abort_capture() noexcept;
  // Launches the instantiated graph on `stream`.
  void replay(const Stream& stream) const;
  // Drops the graph (the next use captures again).
  void reset() noexcept;
  bool ready() const { return exec_ != nullptr; }

 private:
  Stream capturing_;
  bool is_capturing_ = false;
  bool retains_segments_ = false;  // capturing_'s allocator segments are retained
  void* graph_ = nullptr;          // cudaGraph_t
  void* exec_ = nullptr;           // cudaGraphExec_t
};

}  // namespace cudanet::train
