// Convolution descriptors and algorithm choice for the cuDNN backend (see conv_algo.h).
#include "kernels/cudnn/conv_algo.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/common.h"
#include "kernels/cudnn.h"
#include "kernels/gemm.h"

namespace cudanet::kernels::cudnn {
namespace detail {
namespace {

const char* const kForwardNames[] = {
    "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
    "WINOGRAD",      "WINOGRAD_NONFUSED"};
const char* const kBackwardDataNames[] = {"ALGO_0",     "ALGO_1",   "FFT",
                                          "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
const char* const kBackwardFilterNames[] = {
    "ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};

template <std::size_t N>
const char* name_in(const char* const (&names)[N], int algo) {
  return algo >= 0 && static_cast<std::size_t>(algo) < N ? names[algo] : "unknown";
}

const char* algo_name(Pass pass, int algo) {
  switch (pass) {
    case Pass::kForward:
      return name_in(kForwardNames, algo);
    case Pass::kBackwardData:
      return name_in(kBackwardDataNames, algo);
    case Pass::kBackwardFilter:
      return name_in(kBackwardFilterNames, algo);
  }
  return "unknown";
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:
      return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH:
      return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "TENSOR_OP_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH:
      return "FMA";
  }
  return "unknown";
}

// The settings a choice depends on (part of the cache key).
struct Settings {
  bool tf32, deterministic, benchmark;
  std::size_t limit;
  bool strict_fp32;  // float32 without TF32: only FMA kernels
};

Settings current_settings(DType dtype) {
  const bool tf32 = dtype == DType::kFloat32 && allow_tf32();
  return {tf32, deterministic(), benchmark(), workspace_limit(), dtype == DType::kFloat32 && !tf32};
}

std::string key_of(Pass pass, const Conv2dGeometry& g, DType dtype, int device, const Settings& s) {
  const Conv2dParams& p = g.params;
  return ::cudanet::detail::str(pass_name(pass), '|', g.n, ',', g.c, ',', g.h, ',', g.w, '|', g.k,
                                ',', g.r, ',', g.s, '|', p.stride_h, ',', p.stride_w, ',', p.pad_h,
                                ',', p.pad_w, ',', p.dilation_h, ',', p.dilation_w, ',', p.groups,
                                '|', dtype, '|', device, '|', s.tf32, s.deterministic, s.benchmark,
                                '|', s.limit);
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<std::string, AlgoChoice>& cache() {
  static std::unordered_map<std::string, AlgoChoice> c;
  return c;
}

// The per-pass cuDNN entry points behind one interface.
template <Pass P>
struct Api;

template <>
struct Api<Pass::kForward> {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static cudnnStatus_t max_count(cudnnHandle_t h, int* n) {
    return cudnnGetConvolutionForwardAlgorithmMaxCount(h, n);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int req, int* n,
                                  Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                  req, n, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const void* a, const void* b,
                            void* out, int req, int* n, Perf* perf, void* ws,
                            std::size_t ws_bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), a, d.w.get(), b, d.conv.get(),
                                                  d.y.get(), out, req, n, perf, ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                   static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                                   bytes);
  }
};

template <>
struct Api<Pass::kBackwardData> {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static cudnnStatus_t max_count(cudnnHandle_t h, int* n) {
    return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, n);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int req, int* n,
                                  Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.get(), d.y.get(), d.conv.get(),
                                                       d.x.get(), req, n, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const void* a, const void* b,
                            void* out, int req, int* n, Perf* perf, void* ws,
                            std::size_t ws_bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), b, d.y.get(), a, d.conv.get(),
                                                       d.x.get(), out, req, n, perf, ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(
        h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
        static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
  }
};

template <>
struct Api<Pass::kBackwardFilter> {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static cudnnStatus_t max_count(cudnnHandle_t h, int* n) {
    return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, n);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int req, int* n,
                                  Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.get(), d.y.get(), d.conv.get(),
                                                         d.w.get(), req, n, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const void* a, const void* b,
                            void* out, int req, int* n, Perf* perf, void* ws,
                            std::size_t ws_bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(
        h, d.x.get(), b, d.y.get(), a, d.conv.get(), d.w.get(), out, req, n, perf, ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
  }
};

// The algorithms cuDNN's documentation calls non-deterministic (their sums use atomic adds):
// backward-data ALGO_0, backward-filter ALGO_0 and ALGO_3. Deterministic mode excludes them by
// name as well as by the determinism each result reports (defence in depth: the report is what
// cuDNN's heuristics fill in, the list is what its documentation promises).
bool documented_nondeterministic(cudnnConvolutionFwdAlgo_t) {
  return false;
}
bool documented_nondeterministic(cudnnConvolutionBwdDataAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
}
bool documented_nondeterministic(cudnnConvolutionBwdFilterAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

// Whether a candidate may be used under `s`: it ran (or is supported), is deterministic when
// that is asked for, and uses tensor cores only when TF32 is allowed (never with down-conversion).
template <typename Perf>
bool qualifies(const Perf& perf, const Settings& s) {
  if (perf.status != CUDNN_STATUS_SUCCESS) return false;
  if (s.deterministic &&
      (perf.determinism != CUDNN_DETERMINISTIC || documented_nondeterministic(perf.algo)))
    return false;
  if (perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (perf.mathType == CUDNN_TENSOR_OP_MATH && !s.tf32) return false;
  return true;
}

template <Pass P>
AlgoChoice choose_pass(const Conv2dGeometry& g, const Stream& stream, const ConvDescriptors& d,
                       const Settings& s, const void* a, const void* b, void* out) {
  using A = Api<P>;
  cudnnHandle_t h = handle(stream);
  int max_count = 0;
  CUDANET_CUDNN_CHECK(A::max_count(h, &max_count));
  std::vector<typename A::Perf> perf(static_cast<std::size_t>(std::max(max_count, 1)));
  int returned = 0;
  if (s.benchmark) {
    // The search's workspace: the largest any algorithm needs, within the limit.
    std::size_t ws_bytes = 0;
    for (int algo = 0; algo < max_count; ++algo) {
      std::size_t bytes = 0;
      if (A::workspace(h, d, algo, &bytes) == CUDNN_STATUS_SUCCESS && bytes <= s.limit) {
        ws_bytes = std::max(ws_bytes, bytes);
      }
    }
    Tensor ws = ws_bytes > 0 ? Tensor::empty({static_cast<std::int64_t>(ws_bytes)}, DType::kUInt8,
                                             stream.device())
                             : Tensor();
    CUDANET_CUDNN_CHECK(A::find(h, d, a, b, out, max_count, &returned, perf.data(),
                                ws.defined() ? ws.data_ptr() : nullptr, ws_bytes));
  } else {
    CUDANET_CUDNN_CHECK(A::heuristics(h, d, max_count, &returned, perf.data()));
  }
  // Candidates come sorted (by measured time, or by the heuristics' expected speed).
  for (int i = 0; i < returned; ++i) {
    const auto& r = perf[static_cast<std::size_t>(i)];
    if (!qualifies(r, s)) continue;
    // Strict FP32 keeps CUDNN_FMA_MATH even for a result reported as CUDNN_DEFAULT_MATH: since
    // cuDNN 8 the default math type lets FP32 convolutions use TF32 tensor cores.
    const cudnnMathType_t math = s.strict_fp32 ? CUDNN_FMA_MATH : r.mathType;
    CUDANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), math));
    std::size_t bytes = 0;
    if (A::workspace(h, d, static_cast<int>(r.algo), &bytes) != CUDNN_STATUS_SUCCESS) continue;
    if (bytes > s.limit) continue;
    AlgoChoice c;
    c.algo = static_cast<int>(r.algo);
    c.workspace = bytes;
    c.math = math;
    c.description =
        ::cudanet::detail::str(pass_name(P), ' ', algo_name(P, c.algo), " (", math_name(c.math),
                               ", ", bytes, " B", s.benchmark ? ", timed" : "", ")");
    return c;
  }
  CUDANET_THROW(CudaError, "cuDNN ", pass_name(P), ": no ", s.deterministic ? "deterministic " : "",
                s.strict_fp32 ? "strict-FP32 " : "", "algorithm within the workspace limit of ",
                s.limit, " B for x ", shape_str(g.x_shape()), ", w ", shape_str(g.w_shape()), " (",
                returned, " candidates)");
}

}  // namespace

const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::kForward:
      return "fwd";
    case Pass::kBackwardData:
      return "bwd-data";
    case Pass::kBackwardFilter:
      return "bwd-filter";
  }
  return "unknown";
}

ConvDescriptors describe(const Conv2dGeometry& g, DType dtype, const char* op) {
  const Conv2dParams& p = g.params;
  ConvDescriptors d{tensor_4d(g.n, g.c, g.h, g.w, dtype, op),
                    tensor_4d(g.n, g.k, g.p, g.q, dtype, op), FilterDescriptor(),
                    ConvolutionDescriptor()};
  CUDANET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d.w.get(), data_type(dtype), CUDNN_TENSOR_NCHW,
                                                 to_int(g.k, op), to_int(g.c_per_group(), op),
                                                 to_int(g.r, op), to_int(g.s, op)));
  CUDANET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
      d.conv.get(), to_int(p.pad_h, op), to_int(p.pad_w, op), to_int(p.stride_h, op),
      to_int(p.stride_w, op), to_int(p.dilation_h, op), to_int(p.dilation_w, op),
      CUDNN_CROSS_CORRELATION, data_type(dtype)));
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d.conv.get(), to_int(p.groups, op)));
  const bool tf32 = dtype == DType::kFloat32 && allow_tf32();
  CUDANET_CUDNN_CHECK(
      cudnnSetConvolutionMathType(d.conv.get(), tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  return d;
}

AlgoChoice choose(Pass pass, const Conv2dGeometry& g, DType dtype, const Stream& stream,
                  const ConvDescriptors& d, const void* a, const void* b, void* out) {
  const Settings s = current_settings(dtype);
  const std::string key = key_of(pass, g, dtype, stream.device().index(), s);
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto it = cache().find(key);
    if (it != cache().end()) return it->second;
  }
  AlgoChoice c;
  switch (pass) {
    case Pass::kForward:
      c = choose_pass<Pass::kForward>(g, stream, d, s, a, b, out);
      break;
    case Pass::kBackwardData:
      c = choose_pass<Pass::kBackwardData>(g, stream, d, s, a, b, out);
      break;
    case Pass::kBackwardFilter:
      c = choose_pass<Pass::kBackwardFilter>(g, stream, d, s, a, b, out);
      break;
  }
  std::lock_guard<std::mutex> lock(cache_mutex());
  cache().emplace(key, c);
  return c;
}

std::string chosen(const std::string& pass, const Conv2dGeometry& g, int device, DType dtype) {
  for (Pass p : {Pass::kForward, Pass::kBackwardData, Pass::kBackwardFilter}) {
    if (pass != pass_name(p)) continue;
    const std::string key = key_of(p, g, dtype, device, current_settings(dtype));
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto it = cache().find(key);
    return it == cache().end() ? std::string() : it->second.description;
  }
  CUDANET_THROW(ValueError, "cudnn::chosen_algorithm: unknown pass '", pass,
                "' (fwd, bwd-data or bwd-filter)");
}

}  // namespace detail

std::size_t algorithm_cache_size() {
  std::lock_guard<std::mutex> lock(detail::cache_mutex());
  return detail::cache().size();
}

void clear_algorithm_cache() {
  std::lock_guard<std::mutex> lock(detail::cache_mutex());
  detail::cache().clear();
}

std::string chosen_algorithm(const std::string& pass, const Conv2dGeometry& g) {
  return detail::chosen(pass, g, 0, DType::kFloat32);
}

}  // namespace cudanet::kernels::cudnn
