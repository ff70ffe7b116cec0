// Local response normalisation, CPU reference: the formulas of kernels/lrn.h, term by term.
#include "kernels/lrn.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cudanet::kernels::cpu {

namespace {

// scale at (b, c, s): the forward's sum over the window of channel c, [c - size/2, c + (size-1)/2]
// clipped, in this order. The forward and a backward that recomputes the scale both call it, so
// the two agree bit for bit.
template <typename T>
T window_scale(const T* x, std::int64_t b, std::int64_t c, std::int64_t s, const LrnGeometry& g,
               T coef, T k) {
  const std::int64_t lo = std::max<std::int64_t>(c - g.size / 2, 0);
  const std::int64_t hi = std::min<std::int64_t>(c + (g.size - 1) / 2, g.c - 1);
  T sum = 0;
  for (std::int64_t cc = lo; cc <= hi; ++cc) {
    const T v = x[(b * g.c + cc) * g.inner + s];
    sum += v * v;
  }
  return k + coef * sum;
}

}  // namespace

template <typename T>
void lrn_forward(const T* x, T* y, T* scale, const LrnGeometry& g) {
  const T coef = static_cast<T>(g.alpha / static_cast<double>(g.size));
  const T k = static_cast<T>(g.k);
  const T neg_beta = static_cast<T>(-g.beta);
  for (std::int64_t b = 0; b < g.n; ++b) {
    for (std::int64_t c = 0; c < g.c; ++c) {
      for (std::int64_t s = 0; s < g.inner; ++s) {
        const std::int64_t i = (b * g.c + c) * g.inner + s;
        const T sc = window_scale(x, b, c, s, g, coef, k);
        y[i] = x[i] * std::pow(sc, neg_beta);
        if (scale != nullptr) scale[i] = sc;
      }
    }
  }
}

template <typename T>
void lrn_backward(const T* dy, const T* x, const T* y, const T* scale, T* dx,
                  const LrnGeometry& g) {
  const T coef = static_cast<T>(2.0 * g.alpha * g.beta / static_cast<double>(g.size));
  const T neg_beta = static_cast<T>(-g.beta);
  const T scale_coef = static_cast<T>(g.alpha / static_cast<double>(g.size));  // the forward's
  const T k = static_cast<T>(g.k);
  // Without a saved scale, one sample's scale at a time is recomputed from x into `redo`.
  std::vector<T> redo(scale != nullptr ? 0 : static_cast<std::size_t>(g.c * g.inner));
  for (std::int64_t b = 0; b < g.n; ++b) {
    const T* sc = scale != nullptr ? scale + b * g.c * g.inner : redo.data();
    if (scale == nullptr) {
      for (std::int64_t c = 0; c < g.c; ++c) {
        for (std::int64_t s = 0; s < g.inner; ++s) {
          redo[static_cast<std::size_t>(c * g.inner + s)] =
              window_scale(x, b, c, s, g, scale_coef, k);
        }
      }
    }
    for (std::int64_t j = 0; j < g.c; ++j) {
      // The channels whose windows hold j: [j - (size-1)/2, j + size/2], clipped.
      const std::int64_t lo = std::max<std::int64_t>(j - (g.size - 1) / 2, 0);
      const std::int64_t hi = std::min<std::int64_t>(j + g.size / 2, g.c - 1);
      for (std::int64_t s = 0; s < g.inner; ++s) {
        T acc = 0;
        for (std::int64_t c = lo; c <= hi; ++c) {
          const std::int64_t ic = (b * g.c + c) * g.inner + s;
          acc += dy[ic] * y[ic] / sc[c * g.inner + s];
        }
        const std::int64_t i = (b * g.c + j) * g.inner + s;
        dx[i] = dy[i] * std::pow(sc[j * g.inner + s], neg_beta) - coef * x[i] * acc;
      }
    }
  }
}

template void lrn_forward<float>(const float*, float*, float*, const LrnGeometry&);
template void lrn_forward<double>(const double*, double*, double*, const LrnGeometry&);
template void lrn_backward<float>(const float*, const float*, const float*, const float*, float*,
                                  const LrnGeometry&);
template void lrn_backward<double>(const double*, const double*, const double*, const double*,
                                   double*, const LrnGeometry&);

}  // namespace cudanet::kernels::cpu
