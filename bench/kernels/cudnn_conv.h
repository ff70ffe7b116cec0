// cuDNN's fastest strict-FP32 convolution for one geometry: the reference the hand-written
// convolutions are measured against in cudanet_gpu_bench_ops (built only with cuDNN).
//
// CudnnConv describes one convolution to cuDNN (NCHW float32, cross-correlation, groups),
// finds the fastest algorithm of each pass with cudnnFindConvolution*AlgorithmEx on real
// buffers, and then runs the pass with that algorithm on the given stream.
//
// Note: no TF32. The descriptor's math type is CUDNN_FMA_MATH (FMA instructions only), not
// CUDNN_DEFAULT_MATH: since cuDNN 8, the default math type lets FP32 convolutions use TF32
// tensor cores on Ampere and later GPUs. Results that report a tensor-core math type are skipped.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"

namespace cudanet::bench {

enum class ConvPass { kForward, kBackwardData, kBackwardFilter };
const char* conv_pass_name(ConvPass pass);  // "fwd", "bwd-data", "bwd-filter"

// A cuDNN handle bound to a stream, and the workspace its algorithms may use.
class CudnnContext {
 public:
  // Throws CudaError when cuDNN cannot start (for example a missing sub-library).
  CudnnContext(const Stream& stream, std::size_t workspace_bytes);
  ~CudnnContext();
  CudnnContext(const CudnnContext&) = delete;
  CudnnContext& operator=(const CudnnContext&) = delete;

  void* handle() const { return handle_; }  // cudnnHandle_t
  void* workspace() const { return workspace_.data_ptr(); }
  std::size_t workspace_bytes() const { return workspace_.nbytes(); }
  std::string version() const;  // e.g. "9.19.0"

 private:
  void* handle_ = nullptr;
  Tensor workspace_;
};

// The operands of each pass, as in kernels/conv2d.h:
//   kForward:        out y  = conv(a = x,  b = w)
//   kBackwardData:   out dx from (a = dy, b = w)
//   kBackwardFilter: out dw from (a = dy, b = x)
class CudnnConv {
 public:
  CudnnConv(CudnnContext& context, const kernels::Conv2dGeometry& g);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Finds the fastest FP32 algorithm of `pass` that fits the workspace (it runs every candidate
  // once, writing `out`) and remembers it for run(). Returns its name, e.g.
  // "IMPLICIT_PRECOMP_GEMM"; throws CudaError when none succeeds.
  std::string find(ConvPass pass, const Tensor& a, const Tensor& b, Tensor& out);
  // Runs `pass` with the algorithm find() chose, overwriting `out`.
  void run(ConvPass pass, const Tensor& a, const Tensor& b, Tensor& out);

 private:
  struct Descriptors;
  struct Choice {
    int algo = -1;              // the cudnnConvolution*Algo_t find() chose; -1: none yet
    std::size_t workspace = 0;  // bytes it needs
  };
  Choice& chosen(ConvPass pass);

  CudnnContext& context_;
  std::unique_ptr<Descriptors> d_;
  Choice forward_, backward_data_, backward_filter_;
};

}  // namespace cudanet::bench
