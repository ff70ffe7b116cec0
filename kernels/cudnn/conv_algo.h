// Internal to kernels/cudnn/: the descriptors of one convolution and the choice of its algorithm
// per pass (heuristics, or benchmark mode's timed search), cached per shape and settings.
//
// Note: the cache key holds everything the choice depends on: the pass, every size and parameter
// of the geometry, dtype, device, and the settings that filter candidates (TF32 allowed,
// deterministic, benchmark mode, workspace limit). So changing a setting never reuses a choice
// made under another; the cache is shared by all threads behind a mutex.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cudnn/common.h"

namespace cudanet::kernels::cudnn::detail {

enum class Pass { kForward, kBackwardData, kBackwardFilter };
const char* pass_name(Pass pass);  // "fwd", "bwd-data", "bwd-filter"

struct ConvDescriptors {
  TensorDescriptor x, y;  // x [n, c, h, w], y [n, k, p, q]
  FilterDescriptor w;     // [k, c / groups, r, s]
  ConvolutionDescriptor conv;
};
// The descriptors of `g` in `dtype` (cross-correlation, groups), with the math type the
// precision setting allows: CUDNN_FMA_MATH (strict FP32) unless kernels::allow_tf32().
ConvDescriptors describe(const Conv2dGeometry& g, DType dtype, const char* op);

struct AlgoChoice {
  int algo = -1;                              // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  std::size_t workspace = 0;                  // bytes
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // to set on the descriptor before running
  std::string description;                    // "fwd IMPLICIT_PRECOMP_GEMM (FMA, 0 B)"
};

// The algorithm for `pass` (from the cache, or chosen now and cached). The operands are used only
// by benchmark mode, which runs every candidate once on them (writing `out`):
//   kForward: a = x, b = w, out = y;  kBackwardData: a = dy, b = w, out = dx;
//   kBackwardFilter: a = dy, b = x, out = dw.
// Throws CudaError naming the pass and shape when no algorithm qualifies.
AlgoChoice choose(Pass pass, const Conv2dGeometry& g, DType dtype, const Stream& stream,
                  const ConvDescriptors& d, const void* a, const void* b, void* out);

}  // namespace cudanet::kernels::cudnn::detail
