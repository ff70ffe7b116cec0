// conv2d on the CPU: the reference every other algorithm is checked against.
//
// All three passes visit the same set of terms: every (n, k, p, q, c, r, s) whose input pixel
// lies inside the image contributes x[xi] * w[wi] to y[yi]. The forward pass sums those products
// into y; backward-data and backward-filter are the same bilinear form differentiated by x and
// by w, so they sum dy[yi] * w[wi] into dx[xi] and dy[yi] * x[xi] into dw[wi]. Sums are kept in
// double and rounded to T once at the end.
#include "kernels/conv2d.h"

#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace cudanet::kernels::cpu {

namespace {

// Calls visit(xi, wi, yi) for every term of the convolution (seven nested loops).
template <typename Visit>
void for_each_term(const Conv2dGeometry& g, Visit&& visit) {
  const Conv2dParams& p = g.params;
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  for (std::int64_t n = 0; n < g.n; ++n) {
    for (std::int64_t k = 0; k < g.k; ++k) {
      const std::int64_t group = k / kg;
      for (std::int64_t oh = 0; oh < g.p; ++oh) {
        for (std::int64_t ow = 0; ow < g.q; ++ow) {
          const std::int64_t yi = ((n * g.k + k) * g.p + oh) * g.q + ow;
          for (std::int64_t c = 0; c < cg; ++c) {
            const std::int64_t xc = group * cg + c;  // channel of x
            for (std::int64_t r = 0; r < g.r; ++r) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + r * p.dilation_h;
              if (ih < 0 || ih >= g.h) continue;
              for (std::int64_t s = 0; s < g.s; ++s) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + s * p.dilation_w;
                if (iw < 0 || iw >= g.w) continue;
                const std::int64_t xi = ((n * g.c + xc) * g.h + ih) * g.w + iw;
                const std::int64_t wi = ((k * cg + c) * g.r + r) * g.s + s;
                visit(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

template <typename T>
void store(const std::vector<double>& acc, T* out) {
  for (std::size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<T>(acc[i]);
}

}  // namespace

template <typename T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const Conv2dGeometry& g) {
  std::vector<double> acc(static_cast<std::size_t>(shape_numel(g.y_shape())), 0.0);
  if (bias != nullptr) {
    for (std::size_t i = 0; i < acc.size(); ++i) {
      const std::int64_t k = (static_cast<std::int64_t>(i) / (g.p * g.q)) % g.k;
      acc[i] = static_cast<double>(bias[k]);
    }
  }
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    acc[yi] += static_cast<double>(x[xi]) * static_cast<double>(w[wi]);
  });
  store(acc, y);
}

template <typename T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dGeometry& g) {
  std::vector<double> acc(static_cast<std::size_t>(shape_numel(g.x_shape())), 0.0);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    acc[xi] += static_cast<double>(dy[yi]) * static_cast<double>(w[wi]);
  });
  store(acc, dx);
}

template <typename T>
void conv2d_backward_filter(const T* dy, const T* x, T* dw, const Conv2dGeometry& g) {
  std::vector<double> acc(static_cast<std::size_t>(shape_numel(g.w_shape())), 0.0);
  for_each_term(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    acc[wi] += static_cast<double>(dy[yi]) * static_cast<double>(x[xi]);
  });
  store(acc, dw);
}

// Note: each channel's sum runs in double over 8 interleaved partial sums (element j goes to lane
// j mod 8 of its plane), added in lane order at the end: a fixed order, so the same bits on every
// run, and a loop the compiler vectorises (one running sum is a chain of dependent additions).
template <typename T>
void conv2d_backward_bias(const T* dy, T* db, std::int64_t n, std::int64_t k, std::int64_t hw) {
  constexpr std::int64_t kLanes = 8;
  parallel_for(k, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t kk = first; kk < last; ++kk) {
      double lanes[kLanes] = {};
      for (std::int64_t i = 0; i < n; ++i) {
        const T* plane = dy + (i * k + kk) * hw;
        std::int64_t j = 0;
        for (; j + kLanes <= hw; j += kLanes) {
          for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] += static_cast<double>(plane[j + l]);
        }
        for (std::int64_t l = 0; j + l < hw; ++l) lanes[l] += static_cast<double>(plane[j + l]);
      }
      double sum = 0;
      for (double lane : lanes) sum += lane;
      db[kk] = static_cast<T>(sum);
    }
  });
}

#define CUDANET_CONV2D_INSTANTIATE(T)                                                       \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dGeometry&); \
  template void conv2d_backward_data<T>(const T*, const T*, T*, const Conv2dGeometry&);     \
  template void conv2d_backward_filter<T>(const T*, const T*, T*, const Conv2dGeometry&);   \
  template void conv2d_backward_bias<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t);
CUDANET_CONV2D_INSTANTIATE(float)
CUDANET_CONV2D_INSTANTIATE(double)
#undef CUDANET_CONV2D_INSTANTIATE

}  // namespace cudanet::kernels::cpu
