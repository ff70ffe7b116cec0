#include "bench/kernels/cudnn_conv.h"

#include <climits>
#include <tuple>
#include <utility>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "core/cuda/library_check.h"
#include "core/error.h"

namespace cudanet::bench {

namespace {

cudnnHandle_t raw(void* handle) {
  return static_cast<cudnnHandle_t>(handle);
}

int to_int(std::int64_t v) {
  CUDANET_CHECK(v >= 0 && v <= INT_MAX, ValueError, "cuDNN convolution: size ", v,
                " does not fit an int");
  return static_cast<int>(v);
}

const char* const kForwardNames[] = {
    "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
    "WINOGRAD",      "WINOGRAD_NONFUSED"};
const char* const kBackwardDataNames[] = {"ALGO_0",     "ALGO_1",   "FFT",
                                          "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
const char* const kBackwardFilterNames[] = {
    "ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};

template <std::size_t N>
const char* algo_name(const char* const (&names)[N], int algo) {
  return algo >= 0 && static_cast<std::size_t>(algo) < N ? names[algo] : "unknown";
}

// The first (fastest: cuDNN sorts by time) successful result that ran without tensor cores:
// its algorithm and workspace bytes, or -1.
template <typename Perf>
std::pair<int, std::size_t> choose(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i) {
    const bool fp32 = perf[i].mathType == CUDNN_FMA_MATH || perf[i].mathType == CUDNN_DEFAULT_MATH;
    if (perf[i].status == CUDNN_STATUS_SUCCESS && fp32) {
      return {static_cast<int>(perf[i].algo), perf[i].memory};
    }
  }
  return {-1, 0};
}

}  // namespace

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return "fwd";
    case ConvPass::kBackwardData:
      return "bwd-data";
    case ConvPass::kBackwardFilter:
      return "bwd-filter";
  }
  return "?";
}

// ---- CudnnContext -------------------------------------------------------------------------------

CudnnContext::CudnnContext(const Stream& stream, std::size_t workspace_bytes) {
  cudnnHandle_t h = nullptr;
  CUDANET_CUDNN_CHECK(cudnnCreate(&h));
  handle_ = h;
  CUDANET_CUDNN_CHECK(cudnnSetStream(h, static_cast<cudaStream_t>(stream.handle())));
  workspace_ =
      Tensor::empty({static_cast<std::int64_t>(workspace_bytes)}, DType::kUInt8, stream.device());
}

CudnnContext::~CudnnContext() {
  if (handle_ != nullptr) cudnnDestroy(raw(handle_));
}

std::string CudnnContext::version() const {
  const std::size_t v = cudnnGetVersion();  // major * 10000 + minor * 100 + patch (cuDNN 9)
  return detail::str(v / 10000, ".", (v % 10000) / 100, ".", v % 100);
}

// ---- CudnnConv ----------------------------------------------------------------------------------

struct CudnnConv::Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  ~Descriptors() {
    if (x != nullptr) cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cudnnDestroyTensorDescriptor(y);
    if (w != nullptr) cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) cudnnDestroyConvolutionDescriptor(conv);
  }
};

CudnnConv::CudnnConv(CudnnContext& context, const kernels::Conv2dGeometry& g)
    : context_(context), d_(std::make_unique<Descriptors>()) {
  const kernels::Conv2dParams& p = g.params;
  CUDANET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_->x));
  CUDANET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_->y));
  CUDANET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_->w));
  CUDANET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_->conv));
  CUDANET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                 to_int(g.n), to_int(g.c), to_int(g.h),
                                                 to_int(g.w)));
  CUDANET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                 to_int(g.n), to_int(g.k), to_int(g.p),
                                                 to_int(g.q)));
  CUDANET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                 to_int(g.k), to_int(g.c_per_group()), to_int(g.r),
                                                 to_int(g.s)));
  CUDANET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
      d_->conv, to_int(p.pad_h), to_int(p.pad_w), to_int(p.stride_h), to_int(p.stride_w),
      to_int(p.dilation_h), to_int(p.dilation_w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d_->conv, to_int(g.groups())));
  CUDANET_CUDNN_CHECK(cudnnSetConvolutionMathType(d_->conv, CUDNN_FMA_MATH));  // no TF32
  int n = 0, k = 0, p_out = 0, q_out = 0;
  CUDANET_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(d_->conv, d_->x, d_->w, &n, &k, &p_out, &q_out));
  CUDANET_CHECK(n == g.n && k == g.k && p_out == g.p && q_out == g.q, ShapeError,
                "cuDNN convolution: cuDNN's output [", n, ", ", k, ", ", p_out, ", ", q_out,
                "] differs from cudanet's ", shape_str(g.y_shape()));
}

CudnnConv::~CudnnConv() = default;

CudnnConv::Choice& CudnnConv::chosen(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return forward_;
    case ConvPass::kBackwardData:
      return backward_data_;
    case ConvPass::kBackwardFilter:
      break;
  }
  return backward_filter_;
}

std::string CudnnConv::find(ConvPass pass, const Tensor& a, const Tensor& b, Tensor& out) {
  cudnnHandle_t h = raw(context_.handle());
  void* ws = context_.workspace();
  const std::size_t ws_bytes = context_.workspace_bytes();
  Choice& c = chosen(pass);
  int count = 0;
  const char* name = "unknown";
  switch (pass) {
    case ConvPass::kForward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      CUDANET_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
          h, d_->x, a.data_ptr(), d_->w, b.data_ptr(), d_->conv, d_->y, out.data_ptr(),
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf, ws, ws_bytes));
      std::tie(c.algo, c.workspace) = choose(perf, count);
      name = algo_name(kForwardNames, c.algo);
      break;
    }
    case ConvPass::kBackwardData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      CUDANET_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          h, d_->w, b.data_ptr(), d_->y, a.data_ptr(), d_->conv, d_->x, out.data_ptr(),
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf, ws, ws_bytes));
      std::tie(c.algo, c.workspace) = choose(perf, count);
      name = algo_name(kBackwardDataNames, c.algo);
      break;
    }
    case ConvPass::kBackwardFilter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      CUDANET_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          h, d_->x, b.data_ptr(), d_->y, a.data_ptr(), d_->conv, d_->w, out.data_ptr(),
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf, ws, ws_bytes));
      std::tie(c.algo, c.workspace) = choose(perf, count);
      name = algo_name(kBackwardFilterNames, c.algo);
      break;
    }
  }
  CUDANET_CHECK(c.algo >= 0, CudaError, "cuDNN convolution ", conv_pass_name(pass), ": none of ",
                count, " algorithms ran in FP32 within ", ws_bytes >> 20, " MiB of workspace");
  return name;
}

void CudnnConv::run(ConvPass pass, const Tensor& a, const Tensor& b, Tensor& out) {
  const Choice& c = chosen(pass);
  CUDANET_CHECK(c.algo >= 0, ValueError, "cuDNN convolution ", conv_pass_name(pass),
                ": run() before find()");
  cudnnHandle_t h = raw(context_.handle());
  void* ws = context_.workspace();
  const float alpha = 1.0f, beta = 0.0f;
  switch (pass) {
    case ConvPass::kForward:
      CUDANET_CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, d_->x, a.data_ptr(), d_->w,
                                                  b.data_ptr(), d_->conv,
                                                  static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                                  ws, c.workspace, &beta, d_->y, out.data_ptr()));
      break;
    case ConvPass::kBackwardData:
      CUDANET_CUDNN_CHECK(
          cudnnConvolutionBackwardData(h, &alpha, d_->w, b.data_ptr(), d_->y, a.data_ptr(),
                                       d_->conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                       ws, c.workspace, &beta, d_->x, out.data_ptr()));
      break;
    case ConvPass::kBackwardFilter:
      CUDANET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
          h, &alpha, d_->x, b.data_ptr(), d_->y, a.data_ptr(), d_->conv,
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws, c.workspace, &beta, d_->w,
          out.data_ptr()));
      break;
  }
}

}  // namespace cudanet::bench
