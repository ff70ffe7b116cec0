// cudaemu's cuDNN stand-in: convolution algorithm counts, heuristics (Get*_v7), timed searches
// (Find*Ex) and workspace sizes. See cudnn.cc for which rules are cuDNN's and which are ours.
//
// The heuristics list every algorithm in a fixed order of preference, the supported ones first;
// for the backward passes a non-deterministic algorithm comes first, so that a deterministic mode
// has something to refuse. For FP32 under a math type that allows tensor cores, the GEMM-like
// algorithms are reported with CUDNN_TENSOR_OP_MATH (and run in TF32). A find call needs the
// handle's stream to be able to synchronise (so not capturing), checks its buffers, and leaves
// the output clobbered (it ran every candidate into it).
#include <algorithm>
#include <string>
#include <vector>

#include "cudnn_internal.h"
#include "internal.h"

namespace {

using cudaemu::cudnn::Conv;
using cudaemu::cudnn::fail;
using cudaemu::cudnn::Pass;

std::vector<int> preference(Pass pass) {
  switch (pass) {
    case Pass::kForward:
      return {1, 6, 0, 2, 7, 5, 4, 3};
    case Pass::kBackwardData:
      return {0, 1, 4, 5, 3, 2};
    case Pass::kBackwardFilter:
      return {0, 3, 1, 5, 6, 2, 4};
  }
  return {};
}

bool gemm_like(Pass pass, int algo) {
  switch (pass) {
    case Pass::kForward:
      return algo <= 2;
    case Pass::kBackwardData:
      return algo <= 1;
    case Pass::kBackwardFilter:
      return algo <= 1 || algo == 3;
  }
  return false;
}

template <typename Perf>
std::vector<Perf> candidates(Pass pass, const Conv& c) {
  std::vector<Perf> out;
  for (int algo : preference(pass)) {
    Perf p{};
    p.algo = static_cast<decltype(p.algo)>(algo);
    const bool ok = cudaemu::cudnn::algo_supported(pass, algo, c);
    p.status = ok ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
    p.memory = ok ? cudaemu::cudnn::algo_workspace(pass, algo, c) : 0;
    p.determinism = cudaemu::cudnn::algo_deterministic(pass, algo) ? CUDNN_DETERMINISTIC
                                                                   : CUDNN_NON_DETERMINISTIC;
    const bool tensor_ops = c.type == CUDNN_DATA_FLOAT && c.math != CUDNN_FMA_MATH;
    p.mathType = tensor_ops && gemm_like(pass, algo) ? CUDNN_TENSOR_OP_MATH
                 : c.math == CUDNN_FMA_MATH          ? CUDNN_FMA_MATH
                                                     : CUDNN_DEFAULT_MATH;
    p.time = ok ? 1.0f + 0.25f * static_cast<float>(out.size()) : -1.0f;
    out.push_back(p);
  }
  std::stable_partition(out.begin(), out.end(),
                        [](const Perf& p) { return p.status == CUDNN_STATUS_SUCCESS; });
  return out;
}

template <typename Perf>
cudnnStatus_t report(const std::vector<Perf>& all, int requested, int* returned, Perf* perf) {
  if (requested <= 0 || returned == nullptr || perf == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM, "requestedAlgoCount must be > 0 and outputs non-null");
  const int n = std::min<int>(requested, static_cast<int>(all.size()));
  std::copy(all.begin(), all.begin() + n, perf);
  *returned = n;
  return CUDNN_STATUS_SUCCESS;
}

template <typename Perf>
cudnnStatus_t heuristics(Pass pass, const cudnnTensorDescriptor_t x,
                         const cudnnFilterDescriptor_t w, const cudnnConvolutionDescriptor_t conv,
                         const cudnnTensorDescriptor_t y, int requested, int* returned,
                         Perf* perf) {
  Conv c;
  const cudnnStatus_t st = cudaemu::cudnn::describe(x, w, conv, y, &c);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  return report(candidates<Perf>(pass, c), requested, returned, perf);
}

// A find call: the candidates as timed (the same order), those needing more workspace than given
// marked unsupported; every buffer checked; `out` left clobbered (all bits set).
template <typename Perf>
cudnnStatus_t find(cudnnHandle_t h, Pass pass, const cudnnTensorDescriptor_t x, const void* xp,
                   const cudnnFilterDescriptor_t w, const void* wp,
                   const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y,
                   const void* yp, void* out, int requested, int* returned, Perf* perf, void* ws,
                   std::size_t ws_bytes) {
  if (h == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null handle");
  Conv c;
  cudnnStatus_t st = cudaemu::cudnn::describe(x, w, conv, y, &c);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(h->stream, &capture) != cudaSuccess ||
      capture != cudaStreamCaptureStatusNone) {
    return fail(CUDNN_STATUS_EXECUTION_FAILED,
                "cudnnFind*AlgorithmEx times its candidates and synchronises: it cannot run while "
                "its handle's stream is capturing a CUDA graph");
  }
  using cudaemu::cudnn::bytes_of;
  const bool buffers_ok = cudaemu::detail::device_accessible(xp, bytes_of(x)) &&
                          cudaemu::detail::device_accessible(wp, bytes_of(w)) &&
                          cudaemu::detail::device_accessible(yp, bytes_of(y)) &&
                          (ws_bytes == 0 || cudaemu::detail::device_accessible(ws, ws_bytes));
  if (!buffers_ok) {
    cudaemu::detail::fault(cudaErrorIllegalAddress,
                           "a cuDNN find call whose buffers or workspace are not device memory of "
                           "the described sizes");
    return fail(CUDNN_STATUS_EXECUTION_FAILED, "buffers outside their device allocations");
  }
  std::vector<Perf> all = candidates<Perf>(pass, c);
  for (Perf& p : all) {
    if (p.status == CUDNN_STATUS_SUCCESS && p.memory > ws_bytes) {
      p.status = CUDNN_STATUS_NOT_SUPPORTED;
      p.time = -1.0f;
    }
  }
  std::stable_partition(all.begin(), all.end(),
                        [](const Perf& p) { return p.status == CUDNN_STATUS_SUCCESS; });
  // `out` is the pass's output: y forward, x backward-data, w backward-filter.
  const std::size_t out_bytes = pass == Pass::kForward        ? bytes_of(y)
                                : pass == Pass::kBackwardData ? bytes_of(x)
                                                              : bytes_of(w);
  const cudaError_t ran = cudaMemsetAsync(out, 0xFF, out_bytes, h->stream);
  if (ran != cudaSuccess) return fail(CUDNN_STATUS_EXECUTION_FAILED, cudaGetErrorString(ran));
  return report(all, requested, returned, perf);
}

cudnnStatus_t workspace(Pass pass, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
                        const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y,
                        int algo, std::size_t* bytes) {
  Conv c;
  const cudnnStatus_t st = cudaemu::cudnn::describe(x, w, conv, y, &c);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (bytes == nullptr) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "null size");
  if (!cudaemu::cudnn::algo_supported(pass, algo, c))
    return fail(CUDNN_STATUS_NOT_SUPPORTED,
                "algorithm " + std::to_string(algo) + " does not support this convolution");
  *bytes = cudaemu::cudnn::algo_workspace(pass, algo, c);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t max_count(cudnnHandle_t h, int* count, Pass pass) {
  if (h == nullptr || count == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null argument");
  *count = cudaemu::cudnn::algo_count(pass);
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  return max_count(h, count, Pass::kForward);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  return max_count(h, count, Pass::kBackwardData);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  return max_count(h, count, Pass::kBackwardFilter);
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y,
                                                     const int requested, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf) {
  return heuristics(Pass::kForward, x, w, conv, y, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t dx, const int requested,
    int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return heuristics(Pass::kBackwardData, dx, w, conv, dy, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t conv, const cudnnFilterDescriptor_t dw, const int requested,
    int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return heuristics(Pass::kBackwardFilter, x, dw, conv, dy, requested, returned, perf);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x,
    const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t conv,
    const cudnnTensorDescriptor_t yd, void* y, const int requested, int* returned,
    cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  return find(h, Pass::kForward, xd, x, wd, w, conv, yd, y, y, requested, returned, perf, ws,
              ws_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(
    cudnnHandle_t h, const cudnnFilterDescriptor_t wd, const void* w,
    const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t conv,
    const cudnnTensorDescriptor_t dxd, void* dx, const int requested, int* returned,
    cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  return find(h, Pass::kBackwardData, dxd, dx, wd, w, conv, dyd, dy, dx, requested, returned, perf,
              ws, ws_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x,
    const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t conv,
    const cudnnFilterDescriptor_t dwd, void* dw, const int requested, int* returned,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  return find(h, Pass::kBackwardFilter, xd, x, dwd, dw, conv, dyd, dy, dw, requested, returned,
              perf, ws, ws_bytes);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y,
    cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
  return workspace(Pass::kForward, x, w, conv, y, algo, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t dx,
    cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  return workspace(Pass::kBackwardData, dx, w, conv, dy, algo, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t conv, const cudnnFilterDescriptor_t dw,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  return workspace(Pass::kBackwardFilter, x, dw, conv, dy, algo, bytes);
}

}  // extern "C"
