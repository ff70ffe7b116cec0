// cudaemu's cuDNN stand-in: LRN and batch normalisation, from the formulas cuDNN documents:
//  - LRN across channels: the window is [c - floor((n-1)/2), c + n - 1 - floor((n-1)/2)],
//    y = x * (k + alpha / n * sum x^2)^-beta. The window is documented in cudnn_ops.h; that alpha
//    is divided by the window size is the API reference's description of lrnAlpha, not the
//    header's, and the first GPU run (CudnnLrn.*) confirms or refutes it;
//  - batch norm (spatial): the biased variance normalises, the running variance is updated with
//    the unbiased one (the API reference, not the header; CudnnBatchNorm.* on a GPU settles it),
//    runningX = (1 - factor) * runningX + factor * batchX; the saved values are the mean and 1 /
//    sqrt(var + eps).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cudnn_internal.h"

namespace {

using cudaemu::cudnn::bad;
using cudaemu::cudnn::blend;
using cudaemu::cudnn::bytes_of;
using cudaemu::cudnn::fail;
using cudaemu::cudnn::same_shape;
using cudaemu::cudnn::scalar;

// ---- LRN ----

struct Lrn {
  cudnnLRNStruct d;
  cudnnTensorStruct t;
  int behind() const { return static_cast<int>((d.n - 1) / 2); }
  int ahead() const { return static_cast<int>(d.n) - 1 - behind(); }
};

// scale[n, c, s] = k + alpha / n * sum over c's window of x^2.
template <typename T>
std::vector<double> lrn_scale(const Lrn& g, const T* x) {
  const std::int64_t hw = std::int64_t{g.t.h} * g.t.w;
  std::vector<double> scale(static_cast<std::size_t>(g.t.numel()));
  for (int n = 0; n < g.t.n; ++n)
    for (int c = 0; c < g.t.c; ++c)
      for (std::int64_t s = 0; s < hw; ++s) {
        double sum = 0;
        for (int j = std::max(0, c - g.behind()); j <= std::min(g.t.c - 1, c + g.ahead()); ++j) {
          const double v = x[(std::int64_t{n} * g.t.c + j) * hw + s];
          sum += v * v;
        }
        scale[static_cast<std::size_t>((std::int64_t{n} * g.t.c + c) * hw + s)] =
            g.d.k + g.d.alpha / g.d.n * sum;
      }
  return scale;
}

template <typename T>
void lrn_forward(const Lrn& g, double alpha, double beta, const T* x, T* y) {
  const std::vector<double> scale = lrn_scale(g, x);
  for (std::size_t i = 0; i < scale.size(); ++i)
    blend(y[i], double{x[i]} * std::pow(scale[i], -g.d.beta), alpha, beta);
}

// dx_i = dy_i * scale_i^-beta - 2 alpha beta / n * x_i * sum over j whose window holds i of
// dy_j * y_j / scale_j.
template <typename T>
void lrn_backward(const Lrn& g, double alpha, double beta, const T* y, const T* dy, const T* x,
                  T* dx) {
  const std::vector<double> scale = lrn_scale(g, x);
  const std::int64_t hw = std::int64_t{g.t.h} * g.t.w;
  const double coef = 2.0 * g.d.alpha * g.d.beta / g.d.n;
  for (int n = 0; n < g.t.n; ++n)
    for (int c = 0; c < g.t.c; ++c)
      for (std::int64_t s = 0; s < hw; ++s) {
        const std::int64_t i = (std::int64_t{n} * g.t.c + c) * hw + s;
        double sum = 0;
        for (int j = std::max(0, c - g.ahead()); j <= std::min(g.t.c - 1, c + g.behind()); ++j) {
          const std::int64_t o = (std::int64_t{n} * g.t.c + j) * hw + s;
          sum += double{dy[o]} * double{y[o]} / scale[static_cast<std::size_t>(o)];
        }
        const double v = double{dy[i]} * std::pow(scale[static_cast<std::size_t>(i)], -g.d.beta) -
                         coef * double{x[i]} * sum;
        blend(dx[i], v, alpha, beta);
      }
}

// ---- batch norm (spatial: one statistic per channel over N, H, W) ----

struct Bn {
  cudnnTensorStruct x;
  std::int64_t hw() const { return std::int64_t{x.h} * x.w; }
  std::int64_t count() const { return std::int64_t{x.n} * hw(); }
  template <typename F>
  void each(int c, F f) const {
    for (int n = 0; n < x.n; ++n)
      for (std::int64_t s = 0; s < hw(); ++s) f((std::int64_t{n} * x.c + c) * hw() + s);
  }
};

cudnnStatus_t bn_check(const char* op, cudnnBatchNormMode_t mode, const cudnnTensorDescriptor_t xd,
                       const cudnnTensorDescriptor_t yd, const cudnnTensorDescriptor_t pd) {
  if (mode == CUDNN_BATCHNORM_PER_ACTIVATION)
    return fail(CUDNN_STATUS_NOT_SUPPORTED,
                std::string(op) + ": the emulator has spatial mode only");
  if (!same_shape(xd, yd)) return bad(op, "x and y descriptors differ");
  if (pd == nullptr || !pd->set || pd->n != 1 || pd->c != xd->c || pd->h != 1 || pd->w != 1)
    return bad(op, "the parameter descriptor must be [1, C, 1, 1] (cudnnDeriveBNTensorDescriptor)");
  return CUDNN_STATUS_SUCCESS;
}

template <typename T>
void bn_training(const Bn& g, double alpha, double beta, const T* x, T* y, const T* gamma,
                 const T* bias, double factor, T* rmean, T* rvar, double eps, T* smean, T* sinv) {
  const double m = static_cast<double>(g.count());
  for (int c = 0; c < g.x.c; ++c) {
    double sum = 0, sq = 0;
    g.each(c, [&](std::int64_t i) { sum += x[i]; });
    const double mean = sum / m;
    g.each(c, [&](std::int64_t i) { sq += (x[i] - mean) * (x[i] - mean); });
    const double var = sq / m, inv = 1.0 / std::sqrt(var + eps);
    g.each(c, [&](std::int64_t i) {
      blend(y[i], double{gamma[c]} * (x[i] - mean) * inv + double{bias[c]}, alpha, beta);
    });
    if (rmean != nullptr && rvar != nullptr) {
      rmean[c] = static_cast<T>((1 - factor) * rmean[c] + factor * mean);
      rvar[c] = static_cast<T>((1 - factor) * rvar[c] + factor * (m > 1 ? sq / (m - 1) : var));
    }
    if (smean != nullptr && sinv != nullptr) {
      smean[c] = static_cast<T>(mean);
      sinv[c] = static_cast<T>(inv);
    }
  }
}

template <typename T>
void bn_inference(const Bn& g, double alpha, double beta, const T* x, T* y, const T* gamma,
                  const T* bias, const T* mean, const T* var, double eps) {
  for (int c = 0; c < g.x.c; ++c) {
    const double inv = 1.0 / std::sqrt(double{var[c]} + eps);
    g.each(c, [&](std::int64_t i) {
      blend(y[i], double{gamma[c]} * (x[i] - double{mean[c]}) * inv + double{bias[c]}, alpha, beta);
    });
  }
}

template <typename T>
void bn_backward(const Bn& g, const double blend_factors[4], const T* x, const T* dy, T* dx,
                 const T* gamma, T* dgamma, T* dbeta, double eps, const T* smean, const T* sinv) {
  const double m = static_cast<double>(g.count());
  for (int c = 0; c < g.x.c; ++c) {
    double mean = 0, inv = 0;
    if (smean != nullptr && sinv != nullptr) {
      mean = smean[c], inv = sinv[c];
    } else {
      double sum = 0, sq = 0;
      g.each(c, [&](std::int64_t i) { sum += x[i]; });
      mean = sum / m;
      g.each(c, [&](std::int64_t i) { sq += (x[i] - mean) * (x[i] - mean); });
      inv = 1.0 / std::sqrt(sq / m + eps);
    }
    double db = 0, dg = 0;
    g.each(c, [&](std::int64_t i) {
      db += dy[i];
      dg += dy[i] * (x[i] - mean) * inv;
    });
    g.each(c, [&](std::int64_t i) {
      const double xhat = (x[i] - mean) * inv;
      const double v = double{gamma[c]} * inv / m * (m * dy[i] - db - xhat * dg);
      blend(dx[i], v, blend_factors[0], blend_factors[1]);
    });
    blend(dgamma[c], dg, blend_factors[2], blend_factors[3]);
    blend(dbeta[c], db, blend_factors[2], blend_factors[3]);
  }
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnLRNCrossChannelForward(cudnnHandle_t h, cudnnLRNDescriptor_t nd,
                                          cudnnLRNMode_t mode, const void* alpha,
                                          const cudnnTensorDescriptor_t xd, const void* x,
                                          const void* beta, const cudnnTensorDescriptor_t yd,
                                          void* y) {
  constexpr const char* kOp = "cudnnLRNCrossChannelForward";
  if (nd == nullptr || mode != CUDNN_LRN_CROSS_CHANNEL_DIM1) return bad(kOp, "bad LRN descriptor");
  if (!same_shape(xd, yd)) return bad(kOp, "x and y descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const Lrn g{*nd, *xd};
  const double a = scalar(alpha, g.t.type), b = scalar(beta, g.t.type);
  return cudaemu::cudnn::run(kOp, h, g.t.type, {{x, bytes_of(xd)}, {y, bytes_of(yd)}}, [=] {
    CUDAEMU_TYPED(g.t.type, lrn_forward<T>(g, a, b, static_cast<const T*>(x), static_cast<T*>(y)));
  });
}

cudnnStatus_t cudnnLRNCrossChannelBackward(cudnnHandle_t h, cudnnLRNDescriptor_t nd,
                                           cudnnLRNMode_t mode, const void* alpha,
                                           const cudnnTensorDescriptor_t yd, const void* y,
                                           const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnTensorDescriptor_t xd, const void* x,
                                           const void* beta, const cudnnTensorDescriptor_t dxd,
                                           void* dx) {
  constexpr const char* kOp = "cudnnLRNCrossChannelBackward";
  if (nd == nullptr || mode != CUDNN_LRN_CROSS_CHANNEL_DIM1) return bad(kOp, "bad LRN descriptor");
  if (!same_shape(xd, yd) || !same_shape(xd, dyd) || !same_shape(xd, dxd))
    return bad(kOp, "x, y, dy and dx descriptors differ");
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const Lrn g{*nd, *xd};
  const double a = scalar(alpha, g.t.type), b = scalar(beta, g.t.type);
  return cudaemu::cudnn::run(
      kOp, h, g.t.type,
      {{y, bytes_of(yd)}, {dy, bytes_of(dyd)}, {x, bytes_of(xd)}, {dx, bytes_of(dxd)}}, [=] {
        CUDAEMU_TYPED(g.t.type,
                      lrn_backward<T>(g, a, b, static_cast<const T*>(y), static_cast<const T*>(dy),
                                      static_cast<const T*>(x), static_cast<T*>(dx)));
      });
}

cudnnStatus_t cudnnBatchNormalizationForwardTraining(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,
    const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t yd, void* y,
    const cudnnTensorDescriptor_t pd, const void* gamma, const void* bias, double factor,
    void* rmean, void* rvar, double eps, void* smean, void* sinv) {
  constexpr const char* kOp = "cudnnBatchNormalizationForwardTraining";
  cudnnStatus_t st = bn_check(kOp, mode, xd, yd, pd);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  if ((rmean == nullptr) != (rvar == nullptr) || (smean == nullptr) != (sinv == nullptr))
    return bad(kOp, "give both running statistics or neither, and both saved ones or neither");
  if (eps < CUDNN_BN_MIN_EPSILON || factor < 0 || factor > 1)
    return bad(kOp, "needs epsilon >= CUDNN_BN_MIN_EPSILON and 0 <= factor <= 1");
  const Bn g{*xd};
  const std::size_t p = bytes_of(pd);
  const double a = scalar(alpha, g.x.type), b = scalar(beta, g.x.type);
  return cudaemu::cudnn::run(
      kOp, h, g.x.type,
      {{x, bytes_of(xd)},
       {y, bytes_of(yd)},
       {gamma, p},
       {bias, p},
       {rmean, rmean ? p : 0},
       {rvar, rvar ? p : 0},
       {smean, smean ? p : 0},
       {sinv, sinv ? p : 0}},
      [=] {
        CUDAEMU_TYPED(g.x.type,
                      bn_training<T>(g, a, b, static_cast<const T*>(x), static_cast<T*>(y),
                                     static_cast<const T*>(gamma), static_cast<const T*>(bias),
                                     factor, static_cast<T*>(rmean), static_cast<T*>(rvar), eps,
                                     static_cast<T*>(smean), static_cast<T*>(sinv)));
      });
}

cudnnStatus_t cudnnBatchNormalizationForwardInference(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,
    const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t yd, void* y,
    const cudnnTensorDescriptor_t pd, const void* gamma, const void* bias, const void* mean,
    const void* var, double eps) {
  constexpr const char* kOp = "cudnnBatchNormalizationForwardInference";
  cudnnStatus_t st = bn_check(kOp, mode, xd, yd, pd);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (alpha == nullptr || beta == nullptr) return bad(kOp, "null alpha or beta");
  const Bn g{*xd};
  const std::size_t p = bytes_of(pd);
  const double a = scalar(alpha, g.x.type), b = scalar(beta, g.x.type);
  return cudaemu::cudnn::run(
      kOp, h, g.x.type,
      {{x, bytes_of(xd)}, {y, bytes_of(yd)}, {gamma, p}, {bias, p}, {mean, p}, {var, p}}, [=] {
        CUDAEMU_TYPED(g.x.type, bn_inference<T>(
                                    g, a, b, static_cast<const T*>(x), static_cast<T*>(y),
                                    static_cast<const T*>(gamma), static_cast<const T*>(bias),
                                    static_cast<const T*>(mean), static_cast<const T*>(var), eps));
      });
}

cudnnStatus_t cudnnBatchNormalizationBackward(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha_data, const void* beta_data,
    const void* alpha_param, const void* beta_param, const cudnnTensorDescriptor_t xd,
    const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
    const cudnnTensorDescriptor_t dxd, void* dx, const cudnnTensorDescriptor_t pd,
    const void* gamma, void* dgamma, void* dbeta, double eps, const void* smean, const void* sinv) {
  constexpr const char* kOp = "cudnnBatchNormalizationBackward";
  cudnnStatus_t st = bn_check(kOp, mode, xd, dyd, pd);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  if (!same_shape(xd, dxd)) return bad(kOp, "dx's descriptor differs from x's");
  if (alpha_data == nullptr || beta_data == nullptr || alpha_param == nullptr ||
      beta_param == nullptr)
    return bad(kOp, "null blend factor");
  if ((smean == nullptr) != (sinv == nullptr)) return bad(kOp, "give both saved values or neither");
  const Bn g{*xd};
  const std::size_t p = bytes_of(pd);
  const cudnnDataType_t t = g.x.type;
  const double f[4] = {scalar(alpha_data, t), scalar(beta_data, t), scalar(alpha_param, t),
                       scalar(beta_param, t)};
  return cudaemu::cudnn::run(
      kOp, h, t,
      {{x, bytes_of(xd)},
       {dy, bytes_of(dyd)},
       {dx, bytes_of(dxd)},
       {gamma, p},
       {dgamma, p},
       {dbeta, p},
       {smean, smean ? p : 0},
       {sinv, sinv ? p : 0}},
      [=] {
        const double factors[4] = {f[0], f[1], f[2], f[3]};
        CUDAEMU_TYPED(
            t, bn_backward<T>(g, factors, static_cast<const T*>(x), static_cast<const T*>(dy),
                              static_cast<T*>(dx), static_cast<const T*>(gamma),
                              static_cast<T*>(dgamma), static_cast<T*>(dbeta), eps,
                              static_cast<const T*>(smean), static_cast<const T*>(sinv)));
      });
}

}  // extern "C"
