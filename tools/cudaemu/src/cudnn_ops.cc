// cudaemu's cuDNN stand-in: pooling, activations and softmax, from the formulas cuDNN documents
// (its headers and API reference; LRN and batch norm are in cudnn_norm.cc):
//  - pooling: window starts at out * stride - pad; average pooling divides by the window size
//    (COUNT_INCLUDE_PADDING) or by the elements inside the image (COUNT_EXCLUDE_PADDING); max
//    pooling's gradient goes to the first maximal element in the window (row-major) and, for
//    CUDNN_POOLING_MAX (atomic adds on a GPU), overlapping windows add up in a different order on
//    alternate runs; CUDNN_PROPAGATE_NAN makes a NaN in the window the maximum;
//  - softmax over C*H*W (instance) or C (channel), accurate (max subtracted), fast or log.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cudnn_internal.h"

namespace {

using cudaemu::cudnn::bad;
using cudaemu::cudnn::blend;
using cudaemu::cudnn::bytes_of;
using cudaemu::cudnn::same_shape;
using cudaemu::cudnn::scalar;

// ---- pooling ----

struct Pool {
  cudnnPoolingStruct d;
  cudnnTensorStruct x, y;
};

// Calls f(x offset in the plane, counted) for each element of output (oh, ow)'s window.
template <typename F>
void window(const Pool& g, int oh, int ow, F f) {
  const int h0 = oh * g.d.stride_h - g.d.pad_h, w0 = ow * g.d.stride_w - g.d.pad_w;
  for (int r = 0; r < g.d.win_h; ++r) {
    const int h = h0 + r;
    if (h < 0 || h >= g.x.h) continue;
    for (int s = 0; s < g.d.win_w; ++s) {
      const int w = w0 + s;
      if (w >= 0 && w < g.x.w) f(std::int64_t{h} * g.x.w + w);
    }
  }
}

bool is_max(cudnnPoolingMode_t m) {
  return m == CUDNN_POOLING_MAX || m == CUDNN_POOLING_MAX_DETERMINISTIC;
}

// The window's first maximal element (row-major); with CUDNN_PROPAGATE_NAN a NaN is the
// maximum, otherwise NaNs are skipped. -1 for a window without elements.
template <typename T>
std::int64_t argmax(const Pool& g, const T* plane, int oh, int ow) {
  const bool propagate = g.d.nan == CUDNN_PROPAGATE_NAN;
  std::int64_t best = -1;
  window(g, oh, ow, [&](std::int64_t i) {
    const T v = plane[i];
    if (std::isnan(v)) {
      if (propagate && (best < 0 || !std::isnan(plane[best]))) best = i;
    } else if (best < 0 || (!std::isnan(plane[best]) && v > plane[best])) {
      best = i;
    }
  });
  return best;
}

double average_divisor(const Pool& g, int oh, int ow) {
  if (g.d.mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING) return double(g.d.win_h) * g.d.win_w;
  int count = 0;
  window(g, oh, ow, [&](std::int64_t) { ++count; });
  return count;
}

template <typename T>
void pool_forward(const Pool& g, double alpha, double beta, const T* x, T* y) {
  const std::int64_t in_plane = std::int64_t{g.x.h} * g.x.w,
                     out_plane = std::int64_t{g.y.h} * g.y.w;
  for (std::int64_t nc = 0; nc < std::int64_t{g.x.n} * g.x.c; ++nc) {
    const T* xp = x + nc * in_plane;
    for (int oh = 0; oh < g.y.h; ++oh)
      for (int ow = 0; ow < g.y.w; ++ow) {
        double v = 0;
        if (is_max(g.d.mode)) {
          const std::int64_t i = argmax(g, xp, oh, ow);
          v = i < 0 ? 0.0 : double{xp[i]};
        } else {
          T sum = 0;
          window(g, oh, ow, [&](std::int64_t i) { sum += xp[i]; });
          v = double{sum} / average_divisor(g, oh, ow);
        }
        blend(y[nc * out_plane + std::int64_t{oh} * g.y.w + ow], v, alpha, beta);
      }
  }
}

template <typename T>
void pool_backward(const Pool& g, bool reverse, double alpha, double beta, const T* dy, const T* x,
                   T* dx) {
  const std::int64_t in_plane = std::int64_t{g.x.h} * g.x.w,
                     out_plane = std::int64_t{g.y.h} * g.y.w;
  std::vector<T> acc(static_cast<std::size_t>(in_plane));
  for (std::int64_t nc = 0; nc < std::int64_t{g.x.n} * g.x.c; ++nc) {
    std::fill(acc.begin(), acc.end(), T(0));
    const T* xp = x + nc * in_plane;
    for (std::int64_t o = 0; o < out_plane; ++o) {
      const std::int64_t oo = reverse ? out_plane - 1 - o : o;
      const int oh = static_cast<int>(oo / g.y.w), ow = static_cast<int>(oo % g.y.w);
      const T d = dy[nc * out_plane + oo];
      if (is_max(g.d.mode)) {
        const std::int64_t i = argmax(g, xp, oh, ow);
        if (i >= 0) acc[i] += d;
      } else {
        const T share = static_cast<T>(double{d} / average_divisor(g, oh, ow));
        window(g, oh, ow, [&](std::int64_t i) { acc[i] += share; });
      }
    }
    for (std::int64_t i = 0; i < in_plane; ++i) blend(dx[nc * in_plane + i], acc[i], alpha, beta);
  }
}

cudnnStatus_t pool_shapes(const char* op, const cudnnPoolingDescriptor_t pd,
                          const cudnnTensorDescriptor_t xd, const cudnnTensorDescriptor_t yd,
                          Pool* g) {
  int n = 0, c = 0, h = 0, w = 0;
  const cudnnStatus_t st = cudnnGetPooling2dForwardOutputDim(pd, xd, &n, &c, &h, &w);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (yd == nullptr || !yd->set || yd->n != n || yd->c != c || yd->h != h || yd->w != w ||
      yd->type != xd->type)
    return bad(op, "y's descriptor is not the pooling's output");
  *g = Pool{*pd, *xd, *yd};
  return CUDNN_STATUS_SUCCESS;
}

// ---- activations ----

template <typename T>
T activate(cudnnActivationMode_t mode, cudnnNanPropagation_t nan, T x) {
  switch (mode) {
    case CUDNN_ACTIVATION_SIGMOID:
      return T(1) / (T(1) + std::exp(-x));
    case CUDNN_ACTIVATION_RELU:
      if (std::isnan(x)) return nan == CUDNN_PROPAGATE_NAN ? x : T(0);
      return x > T(0) ? x : T(0);
    case CUDNN_ACTIVATION_TANH:
      return std::tanh(x);
    default:
      return x;
  }
}

template <typename T>
T activation_gradient(cudnnActivationMode_t mode, T y, T dy, T x) {
  switch (mode) {
    case CUDNN_ACTIVATION_SIGMOID:
      return dy * y * (T(1) - y);
    case CUDNN_ACTIVATION_RELU:
      return x > T(0) ? dy : T(0);
    case CUDNN_ACTIVATION_TANH:
      return dy * (T(1) - y * y);
    default:
      return dy;
  }
}

// ---- softmax: rows of `len` elements `stride` apart ----

struct Rows {
  std::int64_t count, len, stride;
  std::int64_t at(std::int64_t row, std::int64_t i) const {
    return stride == 1 ? row * len + i : (row / stride) * len * stride + row % stride + i * stride;
  }
};

Rows softmax_rows(cudnnSoftmaxMode_t mode, const cudnnTensorStruct& t) {
  const std::int64_t hw = std::int64_t{t.h} * t.w;
  if (mode == CUDNN_SOFTMAX_MODE_INSTANCE) return {t.n, t.c * hw, 1};
  return {t.n * hw, t.c, hw};
}

template <typename T>
void softmax_forward(cudnnSoftmaxAlgorithm_t algo, const Rows& r, double alpha, double beta,
                     const T* x, T* y) {
  for (std::int64_t row = 0; row < r.count; ++row) {
    T peak = algo == CUDNN_SOFTMAX_FAST ? T(0) : -std::numeric_limits<T>::infinity();
    if (algo != CUDNN_SOFTMAX_FAST)
      for (std::int64_t i = 0; i < r.len; ++i) peak = std::max(peak, x[r.at(row, i)]);
    T sum = 0;
    for (std::int64_t i = 0; i < r.len; ++i) sum += std::exp(x[r.at(row, i)] - peak);
    for (std::int64_t i = 0; i < r.len; ++i) {
      const T z = x[r.at(row, i)] - peak;
      const double v =
          algo == CUDNN_SOFTMAX_LOG ? double{z - std::log(sum)} : double{std::exp(z) / sum};
      blend(y[r.at(row, i)], v, alpha, beta);
    }
  }
}

template <typename T>
void softmax_backward(cudnnSoftmaxAlgorithm_t algo, const Rows& r, double alpha, double beta,
                      const T* y, const T* dy, T* dx) {
  for (std::int64_t row = 0; row < r.count; ++row) {
    T dot = 0;
    for (std::int64_t i = 0; i < r.len; ++i) {
      const std::int64_t o = r.at(row, i);
      dot += algo == CUDNN_SOFTMAX_LOG ? dy[o] : dy[o] * y[o];
    }
    for (std::int64_t i = 0; i < r.len; ++i) {
      const std::int64_t o = r.at(row, i);
      const T v = algo == CUDNN_SOFTMAX_LOG ? dy[o] - std::exp(y[o]) * dot : y[o] * (dy[o] - dot);
      blend(dx[o], v, alpha, beta);
    }
  }
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnPoolingForward(cudnnHandle_t h, const cudnnPoolingDescriptor_t pd,
                                  const void* alpha, const cudnnTensorDescriptor_t xd,
                                  const void* x, const void* beta, const cudnnTensorDescriptor_t yd,
                                  void* y) {
  constexpr const char* kOp = "cudnnPoolingForward";
  Pool g;
  const cudnnStatus_t st = pool_shapes(kOp, pd, xd, yd, &g);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const double a = scalar(alpha, g.x.type), b = scalar(beta, g.x.type);
  return cudaemu::cudnn::run(kOp, h, g.x.type, {{x, bytes_of(xd)}, {y, bytes_of(yd)}}, [=] {
    CUDAEMU_TYPED(g.x.type, pool_forward<T>(g, a, b, static_cast<const T*>(x), static_cast<T*>(y)));
  });
}

cudnnStatus_t cudnnPoolingBackward(cudnnHandle_t h, const cudnnPoolingDescriptor_t pd,
                                   const void* alpha, const cudnnTensorDescriptor_t yd,
                                   const void* y, const cudnnTensorDescriptor_t dyd, const void* dy,
                                   const cudnnTensorDescriptor_t xd, const void* x,
                                   const void* beta, const cudnnTensorDescriptor_t dxd, void* dx) {
  constexpr const char* kOp = "cudnnPoolingBackward";
  Pool g;
  const cudnnStatus_t st = pool_shapes(kOp, pd, xd, yd, &g);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (!same_shape(yd, dyd) || !same_shape(xd, dxd)) return bad(kOp, "dy must match y, dx x");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const double a = scalar(alpha, g.x.type), b = scalar(beta, g.x.type);
  const bool atomic_adds = g.d.mode == CUDNN_POOLING_MAX;  // not MAX_DETERMINISTIC
  return cudaemu::cudnn::run(
      kOp, h, g.x.type,
      {{y, bytes_of(yd)}, {dy, bytes_of(dyd)}, {x, bytes_of(xd)}, {dx, bytes_of(dxd)}}, [=] {
        const bool reverse = atomic_adds && cudaemu::cudnn::reverse_this_call();
        CUDAEMU_TYPED(g.x.type, pool_backward<T>(g, reverse, a, b, static_cast<const T*>(dy),
                                                 static_cast<const T*>(x), static_cast<T*>(dx)));
      });
}

cudnnStatus_t cudnnActivationForward(cudnnHandle_t h, cudnnActivationDescriptor_t ad,
                                     const void* alpha, const cudnnTensorDescriptor_t xd,
                                     const void* x, const void* beta,
                                     const cudnnTensorDescriptor_t yd, void* y) {
  constexpr const char* kOp = "cudnnActivationForward";
  if (ad == nullptr || !ad->set) return bad(kOp, "activation descriptor not set");
  if (!same_shape(xd, yd)) return bad(kOp, "x and y descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const cudnnActivationStruct d = *ad;
  const cudnnDataType_t type = xd->type;
  const std::int64_t count = xd->numel();
  const double a = scalar(alpha, type), b = scalar(beta, type);
  return cudaemu::cudnn::run(kOp, h, type, {{x, bytes_of(xd)}, {y, bytes_of(yd)}}, [=] {
    CUDAEMU_TYPED(type, {
      const T* xv = static_cast<const T*>(x);
      T* yv = static_cast<T*>(y);
      for (std::int64_t i = 0; i < count; ++i) blend(yv[i], activate(d.mode, d.nan, xv[i]), a, b);
    });
  });
}

cudnnStatus_t cudnnActivationBackward(cudnnHandle_t h, cudnnActivationDescriptor_t ad,
                                      const void* alpha, const cudnnTensorDescriptor_t yd,
                                      const void* y, const cudnnTensorDescriptor_t dyd,
                                      const void* dy, const cudnnTensorDescriptor_t xd,
                                      const void* x, const void* beta,
                                      const cudnnTensorDescriptor_t dxd, void* dx) {
  constexpr const char* kOp = "cudnnActivationBackward";
  if (ad == nullptr || !ad->set) return bad(kOp, "activation descriptor not set");
  if (!same_shape(xd, yd) || !same_shape(xd, dyd) || !same_shape(xd, dxd))
    return bad(kOp, "x, y, dy and dx descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const cudnnActivationMode_t mode = ad->mode;
  const cudnnDataType_t type = xd->type;
  const std::int64_t count = xd->numel();
  const double a = scalar(alpha, type), b = scalar(beta, type);
  return cudaemu::cudnn::run(
      kOp, h, type,
      {{y, bytes_of(yd)}, {dy, bytes_of(dyd)}, {x, bytes_of(xd)}, {dx, bytes_of(dxd)}}, [=] {
        CUDAEMU_TYPED(type, {
          const T *yv = static_cast<const T*>(y), *dyv = static_cast<const T*>(dy);
          const T* xv = static_cast<const T*>(x);
          T* dxv = static_cast<T*>(dx);
          for (std::int64_t i = 0; i < count; ++i)
            blend(dxv[i], activation_gradient(mode, yv[i], dyv[i], xv[i]), a, b);
        });
      });
}

cudnnStatus_t cudnnSoftmaxForward(cudnnHandle_t h, cudnnSoftmaxAlgorithm_t algo,
                                  cudnnSoftmaxMode_t mode, const void* alpha,
                                  const cudnnTensorDescriptor_t xd, const void* x, const void* beta,
                                  const cudnnTensorDescriptor_t yd, void* y) {
  constexpr const char* kOp = "cudnnSoftmaxForward";
  if (!same_shape(xd, yd)) return bad(kOp, "x and y descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const Rows r = softmax_rows(mode, *xd);
  const cudnnDataType_t type = xd->type;
  const double a = scalar(alpha, type), b = scalar(beta, type);
  return cudaemu::cudnn::run(kOp, h, type, {{x, bytes_of(xd)}, {y, bytes_of(yd)}}, [=] {
    CUDAEMU_TYPED(type,
                  softmax_forward<T>(algo, r, a, b, static_cast<const T*>(x), static_cast<T*>(y)));
  });
}

cudnnStatus_t cudnnSoftmaxBackward(cudnnHandle_t h, cudnnSoftmaxAlgorithm_t algo,
                                   cudnnSoftmaxMode_t mode, const void* alpha,
                                   const cudnnTensorDescriptor_t yd, const void* y,
                                   const cudnnTensorDescriptor_t dyd, const void* dy,
                                   const void* beta, const cudnnTensorDescriptor_t dxd, void* dx) {
  constexpr const char* kOp = "cudnnSoftmaxBackward";
  if (!same_shape(yd, dyd) || !same_shape(yd, dxd))
    return bad(kOp, "y, dy and dx descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const Rows r = softmax_rows(mode, *yd);
  const cudnnDataType_t type = yd->type;
  const double a = scalar(alpha, type), b = scalar(beta, type);
  return cudaemu::cudnn::run(
      kOp, h, type, {{y, bytes_of(yd)}, {dy, bytes_of(dyd)}, {dx, bytes_of(dxd)}}, [=] {
        CUDAEMU_TYPED(type, softmax_backward<T>(algo, r, a, b, static_cast<const T*>(y),
                                                static_cast<const T*>(dy), static_cast<T*>(dx)));
      });
}

}  // extern "C"
