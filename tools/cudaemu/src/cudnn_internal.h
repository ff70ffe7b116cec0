// cudaemu's cuDNN stand-in: the descriptor objects and helpers shared by its files: cudnn.cc
// (handles, errors, descriptors, the algorithms' properties), cudnn_algo.cc (algorithm queries),
// cudnn_conv.cc (convolution and the op runner), cudnn_ops.cc (pooling, activations, softmax) and
// cudnn_norm.cc (LRN, batch norm).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

#include "cudnn.h"

struct cudnnContext {
  cudaStream_t stream = nullptr;
  void* scratch = nullptr;  // what cudnnCreate allocates on the device, as the real one does
};

struct cudnnTensorStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
  std::int64_t numel() const { return std::int64_t{n} * c * h * w; }
};

struct cudnnFilterStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, r = 0, s = 0;
  std::int64_t numel() const { return std::int64_t{k} * c * r * s; }
};

struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int groups = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

struct cudnnPoolingStruct {
  bool set = false;
  cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
  cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
  int win_h = 0, win_w = 0, pad_h = 0, pad_w = 0, stride_h = 0, stride_w = 0;
};

struct cudnnActivationStruct {
  bool set = false;
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
  cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
  double coef = 0;
};

struct cudnnLRNStruct {  // cudnnCreateLRNDescriptor's defaults (Krizhevsky et al.)
  unsigned n = 5;
  double alpha = 1e-4, beta = 0.75, k = 2.0;
};

namespace cudaemu::cudnn {

// Records why the calling thread's last call failed (cudnnGetLastErrorString) and returns status.
cudnnStatus_t fail(cudnnStatus_t status, const std::string& why);

inline std::size_t element_bytes(cudnnDataType_t t) {
  return t == CUDNN_DATA_DOUBLE ? 8 : t == CUDNN_DATA_HALF ? 2 : 4;
}

// The convolution a set of descriptors describes, checked (BAD_PARAM with the reason otherwise).
struct Conv {
  int n = 0, c = 0, h = 0, w = 0;  // x
  int k = 0, r = 0, s = 0;         // w: [k, c / groups, r, s]
  int p = 0, q = 0;                // y: [n, k, p, q]
  int groups = 1;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  int c_per_group() const { return c / groups; }
  int k_per_group() const { return k / groups; }
};
cudnnStatus_t describe(const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
                       const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y,
                       Conv* out);

// The emulator's convolution algorithms: which are supported for a problem, their workspace,
// their determinism (the ones cuDNN documents as non-deterministic sum in a different order on
// every call here too).
enum class Pass { kForward, kBackwardData, kBackwardFilter };
int algo_count(Pass pass);
bool algo_supported(Pass pass, int algo, const Conv& c);
std::size_t algo_workspace(Pass pass, int algo, const Conv& c);
bool algo_deterministic(Pass pass, int algo);

// Whether float math may use TF32 here (as on an Ampere or newer GPU): not with CUDNN_FMA_MATH,
// and not when the environment sets NVIDIA_TF32_OVERRIDE=0.
bool uses_tf32(cudnnDataType_t type, cudnnMathType_t math);

// A buffer an op reads (const) or writes: it must lie inside one device-accessible allocation.
// The stream-order checker takes cuDNN's signatures at their word: outputs are `void*`.
struct Buffer {
  Buffer(const void* data, std::size_t size) : p(data), bytes(size), write(false) {}
  Buffer(void* data, std::size_t size) : p(data), bytes(size), write(true) {}
  const void* p;
  std::size_t bytes;
  bool write;
};

// The checks and the enqueueing every op shares: a handle, known data type (float or double),
// buffers inside their allocations (a fault otherwise, as an illegal address on a GPU), then
// `body` as a stream operation on the handle's stream (run now, or recorded under capture). The
// body runs with device memory accessible.
cudnnStatus_t run(const char* op, cudnnHandle_t h, cudnnDataType_t type,
                  std::initializer_list<Buffer> buffers, std::function<void()> body);

// The bytes of a described tensor or filter.
inline std::size_t bytes_of(const cudnnTensorStruct* d) {
  return d == nullptr ? 0 : static_cast<std::size_t>(d->numel()) * element_bytes(d->type);
}
inline std::size_t bytes_of(const cudnnFilterStruct* d) {
  return d == nullptr ? 0 : static_cast<std::size_t>(d->numel()) * element_bytes(d->type);
}

// alpha or beta as cuDNN reads them: double for double tensors, float otherwise.
inline double scalar(const void* p, cudnnDataType_t type) {
  return type == CUDNN_DATA_DOUBLE ? *static_cast<const double*>(p)
                                   : double{*static_cast<const float*>(p)};
}

// out = alpha * v + beta * out; with beta == 0 the destination is not read (it may hold NaN).
template <typename T>
inline void blend(T& out, double v, double alpha, double beta) {
  out = beta == 0 ? static_cast<T>(alpha * v) : static_cast<T>(alpha * v + beta * double{out});
}

// For the algorithms cuDNN documents as non-deterministic: true on every other run (ask when the
// op runs, not when it is enqueued), which then sums in the opposite order, so results differ in
// the last bits from run to run.
bool reverse_this_call();

inline bool same_shape(const cudnnTensorStruct* a, const cudnnTensorStruct* b) {
  return a != nullptr && b != nullptr && a->set && b->set && a->n == b->n && a->c == b->c &&
         a->h == b->h && a->w == b->w && a->type == b->type;
}

inline cudnnStatus_t bad(const char* op, const std::string& why) {
  return fail(CUDNN_STATUS_BAD_PARAM, std::string(op) + ": " + why);
}

}  // namespace cudaemu::cudnn

// Runs the statement(s) with T = double for double tensors, float otherwise.
#define CUDAEMU_TYPED(type, ...)       \
  do {                                 \
    if ((type) == CUDNN_DATA_DOUBLE) { \
      using T = double;                \
      __VA_ARGS__;                     \
    } else {                           \
      using T = float;                 \
      __VA_ARGS__;                     \
    }                                  \
  } while (0)
