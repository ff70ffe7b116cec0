// cudaemu's cuDNN stand-in: convolution forward, backward-data, backward-filter and bias
// gradient, cudnnAddTensor, and the shared op runner. Plain loops over the documented math (cross-
// correlation with padding, stride, dilation and groups), summing in the data type as a GPU does.
//
// What the emulator checks beyond the math: the algorithm supports the problem; the workspace is
// as large as cudnnGet*WorkspaceSize says and lies in device memory (it is overwritten while the
// op runs, so a workspace that aliases live data shows); float convolutions round their operands
// to TF32 unless the descriptor's math type is CUDNN_FMA_MATH; the algorithms cuDNN calls
// non-deterministic sum in a different order on alternate runs.
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "cudnn_internal.h"
#include "internal.h"

namespace cudaemu::cudnn {

cudnnStatus_t run(const char* op, cudnnHandle_t h, cudnnDataType_t type,
                  std::initializer_list<Buffer> buffers, std::function<void()> body) {
  if (h == nullptr) return fail(CUDNN_STATUS_BAD_PARAM, std::string(op) + ": null handle");
  if (type != CUDNN_DATA_FLOAT && type != CUDNN_DATA_DOUBLE)
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE,
                std::string(op) + ": the emulator computes float and double only");
  for (const Buffer& b : buffers) {
    if (b.bytes > 0 && !detail::device_accessible(b.p, b.bytes)) {
      detail::fault(cudaErrorIllegalAddress, std::string(op) +
                                                 ": a buffer runs outside its device allocation (" +
                                                 std::to_string(b.bytes) + " bytes described)");
      return fail(CUDNN_STATUS_EXECUTION_FAILED, std::string(op) + ": illegal address");
    }
  }
  std::vector<detail::Touched> touched;
  for (const Buffer& b : buffers) touched.push_back({b.p, b.bytes, b.write});
  const cudaError_t st = detail::enqueue(
      h->stream,
      [body = std::move(body), touched = std::move(touched)] {
        {
          detail::Access access;
          body();
        }
        return detail::order_note_all(touched);
      },
      op);
  if (st != cudaSuccess)
    return fail(CUDNN_STATUS_EXECUTION_FAILED, std::string(op) + ": " + cudaGetErrorString(st));
  return CUDNN_STATUS_SUCCESS;
}

bool reverse_this_call() {
  static std::atomic<unsigned> calls{0};
  return (calls.fetch_add(1) & 1u) != 0;
}

}  // namespace cudaemu::cudnn

namespace {

using cudaemu::cudnn::Buffer;
using cudaemu::cudnn::Conv;
using cudaemu::cudnn::fail;
using cudaemu::cudnn::Pass;

// x[n, c, h, w] (zero outside the image), w[k, c, r, s], y[n, k, p, q]: packed NCHW offsets.
struct Index {
  const Conv& g;
  std::int64_t x(int n, int c, int h, int w) const {
    return ((std::int64_t{n} * g.c + c) * g.h + h) * g.w + w;
  }
  std::int64_t w(int k, int c, int r, int s) const {
    return ((std::int64_t{k} * g.c_per_group() + c) * g.r + r) * g.s + s;
  }
  std::int64_t y(int n, int k, int p, int q) const {
    return ((std::int64_t{n} * g.k + k) * g.p + p) * g.q + q;
  }
};

template <typename T>
T operand(T v, bool tf32) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return tf32 ? cudaemu::detail::round_to_tf32(v) : v;
  } else {
    return v;
  }
}

// Calls f(x index, w index, y index) for every term of the convolution, images in the order
// `n_order` gives and output channels in the order `k_order` gives.
template <typename F>
void for_each_term(const Conv& g, const std::vector<int>& n_order, const std::vector<int>& k_order,
                   F f) {
  const Index ix{g};
  for (int n : n_order) {
    for (int k : k_order) {
      const int c0 = (k / g.k_per_group()) * g.c_per_group();
      for (int p = 0; p < g.p; ++p) {
        for (int q = 0; q < g.q; ++q) {
          const std::int64_t yi = ix.y(n, k, p, q);
          for (int c = 0; c < g.c_per_group(); ++c) {
            for (int r = 0; r < g.r; ++r) {
              const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
              if (h < 0 || h >= g.h) continue;
              for (int s = 0; s < g.s; ++s) {
                const int w = q * g.stride_w - g.pad_w + s * g.dil_w;
                if (w < 0 || w >= g.w) continue;
                f(ix.x(n, c0 + c, h, w), ix.w(k, c, r, s), yi);
              }
            }
          }
        }
      }
    }
  }
}

std::vector<int> order(int count, bool reverse) {
  std::vector<int> v(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) v[static_cast<std::size_t>(i)] = reverse ? count - 1 - i : i;
  return v;
}

template <typename T>
void convolve(Pass pass, const Conv& g, bool reverse, double alpha, double beta, const void* a,
              const void* b, void* out, void* ws, std::size_t scratch_bytes) {
  // The algorithm's scratch (the part of the workspace it needs) holds garbage afterwards.
  if (scratch_bytes > 0) std::memset(ws, 0xA5, scratch_bytes);
  const bool tf32 = cudaemu::cudnn::uses_tf32(g.type, g.math);
  const std::vector<int> n_order = order(g.n, pass == Pass::kBackwardFilter && reverse);
  const std::vector<int> k_order = order(g.k, pass == Pass::kBackwardData && reverse);
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  const std::int64_t count = pass == Pass::kForward ? std::int64_t{g.n} * g.k * g.p * g.q
                             : pass == Pass::kBackwardData
                                 ? std::int64_t{g.n} * g.c * g.h * g.w
                                 : std::int64_t{g.k} * g.c_per_group() * g.r * g.s;
  std::vector<T> acc(static_cast<std::size_t>(count), T(0));
  for_each_term(g, n_order, k_order, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    switch (pass) {
      case Pass::kForward:  // a = x, b = w
        acc[yi] += operand(pa[xi], tf32) * operand(pb[wi], tf32);
        break;
      case Pass::kBackwardData:  // a = dy, b = w
        acc[xi] += operand(pa[yi], tf32) * operand(pb[wi], tf32);
        break;
      case Pass::kBackwardFilter:  // a = x, b = dy
        acc[wi] += operand(pa[xi], tf32) * operand(pb[yi], tf32);
        break;
    }
  });
  T* o = static_cast<T*>(out);
  for (std::size_t i = 0; i < acc.size(); ++i) cudaemu::cudnn::blend(o[i], acc[i], alpha, beta);
}

// The shared path of the three convolution calls: x, w and y describe the convolution; `a` and
// `b` are its two inputs, `out` its output (of `out_bytes`).
cudnnStatus_t convolution(const char* op, Pass pass, cudnnHandle_t h, const void* alpha_p,
                          const void* beta_p, const cudnnTensorDescriptor_t xd,
                          const cudnnFilterDescriptor_t wd, const cudnnConvolutionDescriptor_t conv,
                          const cudnnTensorDescriptor_t yd, int algo, Buffer a, Buffer b, void* out,
                          std::size_t out_bytes, void* ws, std::size_t ws_bytes) {
  Conv g;
  const cudnnStatus_t st = cudaemu::cudnn::describe(xd, wd, conv, yd, &g);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (alpha_p == nullptr || beta_p == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, std::string(op) + ": null alpha or beta");
  if (!cudaemu::cudnn::algo_supported(pass, algo, g))
    return fail(CUDNN_STATUS_NOT_SUPPORTED, std::string(op) + ": algorithm " +
                                                std::to_string(algo) +
                                                " does not support this convolution");
  const std::size_t need = cudaemu::cudnn::algo_workspace(pass, algo, g);
  if (ws_bytes < need || (need > 0 && ws == nullptr)) {
    return fail(CUDNN_STATUS_BAD_PARAM, std::string(op) + ": algorithm " + std::to_string(algo) +
                                            " needs a workspace of " + std::to_string(need) +
                                            " bytes, got " + std::to_string(ws_bytes));
  }
  const double alpha = cudaemu::cudnn::scalar(alpha_p, g.type);
  const double beta = cudaemu::cudnn::scalar(beta_p, g.type);
  const bool nondeterministic = !cudaemu::cudnn::algo_deterministic(pass, algo);
  return cudaemu::cudnn::run(
      op, h, g.type, {a, b, {out, out_bytes}, {ws, ws_bytes}}, [=, pa = a.p, pb = b.p] {
        // Decided when the op runs, so that graph replays vary as eager calls do.
        const bool reverse = nondeterministic && cudaemu::cudnn::reverse_this_call();
        if (g.type == CUDNN_DATA_DOUBLE) {
          convolve<double>(pass, g, reverse, alpha, beta, pa, pb, out, ws, need);
        } else {
          convolve<float>(pass, g, reverse, alpha, beta, pa, pb, out, ws, need);
        }
      });
}

template <typename T>
void add_tensor(const cudnnTensorStruct a, const cudnnTensorStruct c, double alpha, double beta,
                const void* ap, void* cp) {
  const T* av = static_cast<const T*>(ap);
  T* cv = static_cast<T*>(cp);
  for (int n = 0; n < c.n; ++n)
    for (int ch = 0; ch < c.c; ++ch)
      for (int h = 0; h < c.h; ++h)
        for (int w = 0; w < c.w; ++w) {
          const std::int64_t ai =
              ((std::int64_t{a.n == 1 ? 0 : n} * a.c + (a.c == 1 ? 0 : ch)) * a.h +
               (a.h == 1 ? 0 : h)) *
                  a.w +
              (a.w == 1 ? 0 : w);
          const std::int64_t ci = ((std::int64_t{n} * c.c + ch) * c.h + h) * c.w + w;
          cudaemu::cudnn::blend(cv[ci], av[ai], alpha, beta);
        }
}

template <typename T>
void bias_gradient(const cudnnTensorStruct dy, double alpha, double beta, const void* dyp,
                   void* dbp) {
  const T* d = static_cast<const T*>(dyp);
  T* db = static_cast<T*>(dbp);
  const std::int64_t hw = std::int64_t{dy.h} * dy.w;
  for (int k = 0; k < dy.c; ++k) {
    T sum = 0;
    for (int n = 0; n < dy.n; ++n)
      for (std::int64_t i = 0; i < hw; ++i) sum += d[(std::int64_t{n} * dy.c + k) * hw + i];
    cudaemu::cudnn::blend(db[k], sum, alpha, beta);
  }
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha,
                                      const cudnnTensorDescriptor_t xd, const void* x,
                                      const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t conv,
                                      cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes,
                                      const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  return convolution("cudnnConvolutionForward", Pass::kForward, h, alpha, beta, xd, wd, conv, yd,
                     algo, {x, cudaemu::cudnn::bytes_of(xd)}, {w, cudaemu::cudnn::bytes_of(wd)}, y,
                     cudaemu::cudnn::bytes_of(yd), ws, ws_bytes);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha,
                                           const cudnnFilterDescriptor_t wd, const void* w,
                                           const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t conv,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* ws,
                                           size_t ws_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  return convolution("cudnnConvolutionBackwardData", Pass::kBackwardData, h, alpha, beta, dxd, wd,
                     conv, dyd, algo, {dy, cudaemu::cudnn::bytes_of(dyd)},
                     {w, cudaemu::cudnn::bytes_of(wd)}, dx, cudaemu::cudnn::bytes_of(dxd), ws,
                     ws_bytes);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha,
                                             const cudnnTensorDescriptor_t xd, const void* x,
                                             const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t conv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws,
                                             size_t ws_bytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwd, void* dw) {
  return convolution("cudnnConvolutionBackwardFilter", Pass::kBackwardFilter, h, alpha, beta, xd,
                     dwd, conv, dyd, algo, {x, cudaemu::cudnn::bytes_of(xd)},
                     {dy, cudaemu::cudnn::bytes_of(dyd)}, dw, cudaemu::cudnn::bytes_of(dwd), ws,
                     ws_bytes);
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void* alpha,
                                           const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const void* beta, const cudnnTensorDescriptor_t dbd,
                                           void* db) {
  if (dyd == nullptr || dbd == nullptr || !dyd->set || !dbd->set || alpha == nullptr ||
      beta == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardBias: null or unset argument");
  if (dbd->n != 1 || dbd->c != dyd->c || dbd->h != 1 || dbd->w != 1 || dbd->type != dyd->type)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardBias: db must be [1, C, 1, 1]");
  const cudnnTensorStruct g = *dyd;
  const double a = cudaemu::cudnn::scalar(alpha, g.type), b = cudaemu::cudnn::scalar(beta, g.type);
  return cudaemu::cudnn::run(
      "cudnnConvolutionBackwardBias", h, g.type,
      {{dy, cudaemu::cudnn::bytes_of(dyd)}, {db, cudaemu::cudnn::bytes_of(dbd)}}, [=] {
        if (g.type == CUDNN_DATA_DOUBLE) {
          bias_gradient<double>(g, a, b, dy, db);
        } else {
          bias_gradient<float>(g, a, b, dy, db);
        }
      });
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t ad,
                             const void* A, const void* beta, const cudnnTensorDescriptor_t cd,
                             void* C) {
  if (ad == nullptr || cd == nullptr || !ad->set || !cd->set || alpha == nullptr || beta == nullptr)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnAddTensor: null or unset argument");
  const bool fits = (ad->n == 1 || ad->n == cd->n) && (ad->c == 1 || ad->c == cd->c) &&
                    (ad->h == 1 || ad->h == cd->h) && (ad->w == 1 || ad->w == cd->w);
  if (!fits || ad->type != cd->type)
    return fail(CUDNN_STATUS_BAD_PARAM,
                "cudnnAddTensor: A's dimensions must each be 1 or C's, in C's data type");
  const cudnnTensorStruct a = *ad, c = *cd;
  const double al = cudaemu::cudnn::scalar(alpha, c.type),
               be = cudaemu::cudnn::scalar(beta, c.type);
  return cudaemu::cudnn::run("cudnnAddTensor", h, c.type,
                             {{A, cudaemu::cudnn::bytes_of(ad)}, {C, cudaemu::cudnn::bytes_of(cd)}},
                             [=] {
                               if (c.type == CUDNN_DATA_DOUBLE) {
                                 add_tensor<double>(a, c, al, be, A, C);
                               } else {
                                 add_tensor<float>(a, c, al, be, A, C);
                               }
                             });
}

}  // extern "C"
