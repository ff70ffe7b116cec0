// cudaemu's cuDNN stand-in: handles, errors, descriptors, and which convolution algorithm supports
// what (the queries themselves are in cudnn_algo.cc).
//
// The rules are cuDNN's documented ones where it documents them: descriptor limits (positive
// sizes, LRN window and constants), output sizes, which algorithms are non-deterministic, that a
// find call runs (so clobbers the output and needs its stream idle, not capturing), that FP32
// convolutions may use TF32 unless the math type is CUDNN_FMA_MATH. Where cuDNN does not document
// (which algorithms support a shape, their workspace, the heuristics' order), the emulator makes
// its own fixed choices, so that the backend's selection logic has something to select from;
// README.md lists them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "cudnn_internal.h"
#include "internal.h"

namespace cudaemu::cudnn {

namespace {
thread_local std::string last_error;
}  // namespace

cudnnStatus_t fail(cudnnStatus_t status, const std::string& why) {
  last_error = why;
  return status;
}

cudnnStatus_t describe(const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
                       const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y,
                       Conv* out) {
  if (x == nullptr || w == nullptr || conv == nullptr || !x->set || !w->set || !conv->set)
    return fail(CUDNN_STATUS_BAD_PARAM, "a convolution descriptor is null or was never set");
  Conv c;
  c.n = x->n, c.c = x->c, c.h = x->h, c.w = x->w;
  c.k = w->k, c.r = w->r, c.s = w->s, c.groups = conv->groups;
  c.pad_h = conv->pad_h, c.pad_w = conv->pad_w, c.stride_h = conv->stride_h;
  c.stride_w = conv->stride_w, c.dil_h = conv->dil_h, c.dil_w = conv->dil_w;
  c.type = x->type, c.math = conv->math;
  if (w->type != x->type || (y != nullptr && y->type != x->type))
    return fail(CUDNN_STATUS_BAD_PARAM, "x, w and y have different data types");
  if (c.c % c.groups != 0 || c.k % c.groups != 0 || w->c * c.groups != c.c) {
    return fail(CUDNN_STATUS_BAD_PARAM, "filter [" + std::to_string(w->k) + ", " +
                                            std::to_string(w->c) + ", ...] does not fit x's " +
                                            std::to_string(c.c) + " channels in " +
                                            std::to_string(c.groups) + " groups");
  }
  const int span_h = (c.r - 1) * c.dil_h + 1, span_w = (c.s - 1) * c.dil_w + 1;
  if (c.h + 2 * c.pad_h < span_h || c.w + 2 * c.pad_w < span_w)
    return fail(CUDNN_STATUS_BAD_PARAM, "the dilated filter is larger than the padded input");
  c.p = (c.h + 2 * c.pad_h - span_h) / c.stride_h + 1;
  c.q = (c.w + 2 * c.pad_w - span_w) / c.stride_w + 1;
  if (y != nullptr && (!y->set || y->n != c.n || y->c != c.k || y->h != c.p || y->w != c.q)) {
    return fail(CUDNN_STATUS_BAD_PARAM, "y's descriptor is not the convolution's output [" +
                                            std::to_string(c.n) + ", " + std::to_string(c.k) +
                                            ", " + std::to_string(c.p) + ", " +
                                            std::to_string(c.q) + "]");
  }
  *out = c;
  return CUDNN_STATUS_SUCCESS;
}

int algo_count(Pass pass) {
  switch (pass) {
    case Pass::kForward:
      return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case Pass::kBackwardData:
      return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case Pass::kBackwardFilter:
      return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

namespace {

enum class Kind { kGemm, kFft, kWinograd, kWinogradNonfused, kNone };

Kind kind_of(Pass pass, int algo) {
  static const Kind fwd[] = {Kind::kGemm, Kind::kGemm, Kind::kGemm,     Kind::kNone,
                             Kind::kFft,  Kind::kFft,  Kind::kWinograd, Kind::kWinogradNonfused};
  static const Kind data[] = {Kind::kGemm, Kind::kGemm,     Kind::kFft,
                              Kind::kFft,  Kind::kWinograd, Kind::kWinogradNonfused};
  static const Kind filter[] = {Kind::kGemm, Kind::kGemm, Kind::kFft,
                                Kind::kGemm, Kind::kNone, Kind::kWinogradNonfused,
                                Kind::kFft};
  if (algo < 0 || algo >= algo_count(pass)) return Kind::kNone;
  switch (pass) {
    case Pass::kForward:
      return fwd[algo];
    case Pass::kBackwardData:
      return data[algo];
    case Pass::kBackwardFilter:
      return filter[algo];
  }
  return Kind::kNone;
}

bool unit_stride(const Conv& c) {
  return c.stride_h == 1 && c.stride_w == 1 && c.dil_h == 1 && c.dil_w == 1;
}

}  // namespace

bool algo_supported(Pass pass, int algo, const Conv& c) {
  switch (kind_of(pass, algo)) {
    case Kind::kGemm:
      return true;
    case Kind::kFft:
      return unit_stride(c) && c.type == CUDNN_DATA_FLOAT && c.groups == 1;
    case Kind::kWinograd:
      return unit_stride(c) && c.type == CUDNN_DATA_FLOAT && c.r == 3 && c.s == 3;
    case Kind::kWinogradNonfused:
      return unit_stride(c) && c.type == CUDNN_DATA_FLOAT && c.r == c.s && (c.r == 3 || c.r == 5);
    case Kind::kNone:
      return false;
  }
  return false;
}

std::size_t algo_workspace(Pass pass, int algo, const Conv& c) {
  const std::size_t e = element_bytes(c.type);
  const std::size_t crs = std::size_t(c.c_per_group()) * c.r * c.s;
  const std::size_t padded = std::size_t(c.h + 2 * c.pad_h) * (c.w + 2 * c.pad_w);
  switch (kind_of(pass, algo)) {
    case Kind::kGemm:
      if (pass == Pass::kForward && algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
        return crs * c.p * c.q * e;  // one image's column matrix
      if (pass == Pass::kForward && algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
        return crs * sizeof(int);  // offset table
      if (pass == Pass::kBackwardFilter && algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0)
        return crs * c.k_per_group() * e;  // partial filter sums
      return 0;
    case Kind::kFft:
      return std::size_t(c.n) * (c.c + c.k) * padded * 2 * e;
    case Kind::kWinograd:
      return 0;
    case Kind::kWinogradNonfused:
      return std::size_t(c.n) * (c.c + c.k) * padded * e;
    case Kind::kNone:
      return 0;
  }
  return 0;
}

bool algo_deterministic(Pass pass, int algo) {
  if (pass == Pass::kBackwardData) return algo != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  if (pass == Pass::kBackwardFilter)
    return algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 &&
           algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
  return true;
}

bool uses_tf32(cudnnDataType_t type, cudnnMathType_t math) {
  return type == CUDNN_DATA_FLOAT && math != CUDNN_FMA_MATH &&
         detail::tf32_allowed_by_environment();
}

}  // namespace cudaemu::cudnn

using cudaemu::cudnn::fail;

namespace {

template <typename T>
cudnnStatus_t create(T** desc) {
  if (desc == nullptr) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "null descriptor pointer");
  *desc = new T;
  return CUDNN_STATUS_SUCCESS;
}

template <typename T>
cudnnStatus_t destroy(T* desc) {
  delete desc;
  return CUDNN_STATUS_SUCCESS;
}

bool known_type(cudnnDataType_t t) {
  return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE || t == CUDNN_DATA_HALF;
}

std::string dims(int a, int b, int c, int d) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ", " +
         std::to_string(d) + "]";
}

// The checks cudnnSetTensor4dDescriptor and cudnnSetFilter4dDescriptor share.
cudnnStatus_t check_4d(const void* desc, const char* what, cudnnTensorFormat_t format,
                       cudnnDataType_t type, int a, int b, int c, int d) {
  const std::string name(what);
  if (desc == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null " + name + " descriptor");
  if (format != CUDNN_TENSOR_NCHW)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, "the emulator supports NCHW " + name + "s only");
  if (!known_type(type)) return fail(CUDNN_STATUS_BAD_PARAM, "unknown data type");
  if (a <= 0 || b <= 0 || c <= 0 || d <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM,
                name + " dimensions " + dims(a, b, c, d) + " must all be positive");
  if (std::int64_t{a} * b * c * d > INT32_MAX)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, name + " " + dims(a, b, c, d) + " is too large");
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

size_t cudnnGetVersion(void) {
  return CUDNN_VERSION;
}

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS:
      return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED:
      return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM:
      return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER:
      return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH:
      return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED:
      return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE:
      return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE:
      return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_INTERNAL_ERROR:
      return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED:
      return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (message == nullptr || max_size == 0) return;
  const std::string& why = cudaemu::cudnn::last_error;
  const std::size_t n = std::min(why.size(), max_size - 1);
  std::memcpy(message, why.data(), n);
  message[n] = '\0';
  cudaemu::cudnn::last_error.clear();
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  if (handle == nullptr) return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnCreate: null");
  // Like cuDNN, a handle holds device memory: creating one obeys cudaMalloc's rules (no
  // allocation while a stream is capturing in global mode).
  void* scratch = nullptr;
  if (cudaMalloc(&scratch, 4096) != cudaSuccess) {
    (void)cudaGetLastError();
    return fail(CUDNN_STATUS_INTERNAL_ERROR,
                "cudnnCreate: cudaMalloc of the handle's memory failed");
  }
  *handle = new cudnnContext;
  (*handle)->scratch = scratch;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (handle == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy: null handle");
  (void)cudaFree(handle->scratch);
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetStream: null handle");
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* stream) {
  if (handle == nullptr || stream == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetStream: null");
  *stream = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

// ---- descriptors ----

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  const cudnnStatus_t st = check_4d(d, "tensor", format, type, n, c, h, w);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  *d = cudnnTensorStruct{true, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  const cudnnStatus_t st = check_4d(d, "filter", format, type, k, c, h, w);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  *d = cudnnFilterStruct{true, type, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w,
                                              int u, int v, int dilation_h, int dilation_w,
                                              cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  if (d == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null convolution descriptor");
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, "padding must be >= 0, strides and dilations > 0");
  if (mode != CUDNN_CROSS_CORRELATION)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, "the emulator supports CUDNN_CROSS_CORRELATION only");
  d->set = true;
  d->pad_h = pad_h, d->pad_w = pad_w, d->stride_h = u, d->stride_w = v;
  d->dil_h = dilation_h, d->dil_w = dilation_w, d->mode = mode, d->compute = compute;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  if (d == nullptr || groups <= 0) return fail(CUDNN_STATUS_BAD_PARAM, "bad group count");
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (d == nullptr || math < CUDNN_DEFAULT_MATH || math > CUDNN_FMA_MATH)
    return fail(CUDNN_STATUS_BAD_PARAM, "bad math type");
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t conv,
                                                    const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int* n, int* c,
                                                    int* h, int* wo) {
  cudaemu::cudnn::Conv g;
  const cudnnStatus_t st = cudaemu::cudnn::describe(x, w, conv, nullptr, &g);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (n == nullptr || c == nullptr || h == nullptr || wo == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "null output dimension");
  *n = g.n, *c = g.k, *h = g.p, *wo = g.q;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreatePoolingDescriptor(cudnnPoolingDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyPoolingDescriptor(cudnnPoolingDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetPooling2dDescriptor(cudnnPoolingDescriptor_t d, cudnnPoolingMode_t mode,
                                          cudnnNanPropagation_t nan, int wh, int ww, int ph, int pw,
                                          int sh, int sw) {
  if (d == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null pooling descriptor");
  if (mode < CUDNN_POOLING_MAX || mode > CUDNN_POOLING_MAX_DETERMINISTIC)
    return fail(CUDNN_STATUS_BAD_PARAM, "bad pooling mode");
  if (wh <= 0 || ww <= 0 || ph < 0 || pw < 0 || sh <= 0 || sw <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, "pooling window and strides must be > 0, padding >= 0");
  *d = cudnnPoolingStruct{true, mode, nan, wh, ww, ph, pw, sh, sw};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetPooling2dForwardOutputDim(const cudnnPoolingDescriptor_t d,
                                                const cudnnTensorDescriptor_t x, int* n, int* c,
                                                int* h, int* w) {
  if (d == nullptr || x == nullptr || !d->set || !x->set)
    return fail(CUDNN_STATUS_BAD_PARAM, "pooling or tensor descriptor not set");
  if (x->h + 2 * d->pad_h < d->win_h || x->w + 2 * d->pad_w < d->win_w)
    return fail(CUDNN_STATUS_BAD_PARAM, "the pooling window is larger than the padded input");
  *n = x->n, *c = x->c;
  *h = 1 + (x->h + 2 * d->pad_h - d->win_h) / d->stride_h;
  *w = 1 + (x->w + 2 * d->pad_w - d->win_w) / d->stride_w;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t d,
                                           cudnnActivationMode_t mode, cudnnNanPropagation_t nan,
                                           double coef) {
  if (d == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null activation descriptor");
  if (mode != CUDNN_ACTIVATION_SIGMOID && mode != CUDNN_ACTIVATION_RELU &&
      mode != CUDNN_ACTIVATION_TANH && mode != CUDNN_ACTIVATION_IDENTITY)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, "the emulator has sigmoid, ReLU, tanh and identity");
  *d = cudnnActivationStruct{true, mode, nan, coef};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateLRNDescriptor(cudnnLRNDescriptor_t* d) {
  return create(d);
}
cudnnStatus_t cudnnDestroyLRNDescriptor(cudnnLRNDescriptor_t d) {
  return destroy(d);
}
cudnnStatus_t cudnnSetLRNDescriptor(cudnnLRNDescriptor_t d, unsigned n, double alpha, double beta,
                                    double k) {
  if (d == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, "null LRN descriptor");
  if (n < CUDNN_LRN_MIN_N || n > CUDNN_LRN_MAX_N || k < CUDNN_LRN_MIN_K ||
      beta < CUDNN_LRN_MIN_BETA) {
    return fail(CUDNN_STATUS_BAD_PARAM, "LRN needs 1 <= n <= 16, k >= 1e-5, beta >= 0.01; got n " +
                                            std::to_string(n) + ", k " + std::to_string(k) +
                                            ", beta " + std::to_string(beta));
  }
  *d = cudnnLRNStruct{n, alpha, beta, k};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDeriveBNTensorDescriptor(cudnnTensorDescriptor_t bn,
                                            const cudnnTensorDescriptor_t x,
                                            cudnnBatchNormMode_t mode) {
  if (bn == nullptr || x == nullptr || !x->set)
    return fail(CUDNN_STATUS_BAD_PARAM, "batch norm: descriptor not set");
  if (mode == CUDNN_BATCHNORM_PER_ACTIVATION) {
    *bn = cudnnTensorStruct{true, x->type, 1, x->c, x->h, x->w};
  } else {
    *bn = cudnnTensorStruct{true, x->type, 1, x->c, 1, 1};
  }
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
