// Tensor comparisons, random inputs and finite-difference gradient checks for tests.
//
// Tolerances follow the dtype: per element |got - ref| <= atol + rtol * |ref|, plus a whole-tensor
// relative error ||got - ref|| / ||ref||. NaN is never accepted. A failure lists the first few
// mismatching indices with both values, not just "FAILED".
#pragma once

#include <cmath>
#include <functional>
#include <gtest/gtest.h>
#include <limits>
#include <sstream>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace cudanet::testing {

struct Tolerance {
  double atol;
  double rtol;
  double max_relative_error;  // ||got - ref||_2 / ||ref||_2
};

inline Tolerance tolerance_for(DType t) {
  return t == DType::kFloat64 ? Tolerance{1e-10, 1e-9, 1e-11} : Tolerance{1e-5, 1e-4, 1e-5};
}

// All elements as double, on the host, in row-major order.
inline std::vector<double> as_doubles(const Tensor& t) {
  const Tensor host = t.to(Device::cpu()).contiguous();
  std::vector<double> out(static_cast<std::size_t>(host.numel()));
  dispatch_dtype(host.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(host.data_ptr());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = to_double(p[i]);
  });
  return out;
}

// Uniform values in [low, high) drawn from Philox (seed), on `device`.
inline Tensor random_tensor(const Shape& shape, DType dtype, std::uint64_t seed, double low = -1.0,
                            double high = 1.0, Device device = {}) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape, dtype, Device::cpu());
  t.uniform_(low, high, g);
  return t.to(device);
}

// Small integers in [low, high] (exact in float32 sums of modest length), on `device`.
inline Tensor small_int_tensor(const Shape& shape, DType dtype, std::uint64_t seed, int low = -3,
                               int high = 3, Device device = {}) {
  Tensor u = random_tensor(shape, DType::kFloat64, seed, 0.0, 1.0);
  std::vector<double> v = as_doubles(u);
  Tensor t = Tensor::empty(shape, dtype, Device::cpu());
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(t.data_ptr());
    for (std::size_t i = 0; i < v.size(); ++i) {
      p[i] = from_double<T>(low + std::floor(v[i] * (high - low + 1)));
    }
  });
  return t.to(device);
}

// Fills `t` with NaN (floating) or all-ones bits (integers) so unwritten elements are caught.
inline void poison(Tensor& t) {
  t.fill_(is_floating(t.dtype()) ? std::numeric_limits<double>::quiet_NaN() : -1.0);
}

// A new tensor on `device` (the first GPU by default) filled with poison(): an output buffer whose
// unwritten elements a comparison will catch.
inline Tensor poisoned(const Shape& shape, DType dtype, Device device = Device::cuda(0)) {
  Tensor t = Tensor::empty(shape, dtype, device);
  poison(t);
  return t;
}

inline ::testing::AssertionResult all_close(const Tensor& got, const Tensor& ref, Tolerance tol) {
  if (got.shape() != ref.shape()) {
    return ::testing::AssertionFailure()
           << "shape " << shape_str(got.shape()) << " vs reference " << shape_str(ref.shape());
  }
  const std::vector<double> g = as_doubles(got);
  const std::vector<double> r = as_doubles(ref);
  std::ostringstream bad;
  std::int64_t mismatches = 0;
  double diff2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double d = std::fabs(g[i] - r[i]);
    const bool ok =
        std::isfinite(g[i]) == std::isfinite(r[i]) &&
        (!std::isfinite(r[i]) ? g[i] == r[i] : d <= tol.atol + tol.rtol * std::fabs(r[i]));
    if (!ok || std::isnan(g[i])) {
      if (mismatches < 5) bad << "\n  [" << i << "] got " << g[i] << ", expected " << r[i];
      ++mismatches;
    }
    if (std::isfinite(d)) diff2 += d * d;
    if (std::isfinite(r[i])) ref2 += r[i] * r[i];
  }
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  if (mismatches > 0 || rel > tol.max_relative_error) {
    return ::testing::AssertionFailure()
           << mismatches << " of " << g.size() << " elements outside atol " << tol.atol
           << " + rtol " << tol.rtol << " * |ref|; relative error " << rel << " (limit "
           << tol.max_relative_error << ")" << bad.str();
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_close(const Tensor& got, const Tensor& ref) {
  return all_close(got, ref, tolerance_for(ref.dtype()));
}

inline ::testing::AssertionResult all_equal(const Tensor& got, const Tensor& ref) {
  return all_close(got, ref, Tolerance{0.0, 0.0, 0.0});
}

// Checks an analytic gradient against central differences in float64. With L(x) = sum(f(x) * dy),
// `analytic` must equal dL/dx. Elements where skip(x, i) is true (near a kink) are not checked.
inline ::testing::AssertionResult check_gradient(
    const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& dy,
    const Tensor& analytic, double eps = 1e-6, double tol = 1e-6,
    const std::function<bool(const std::vector<double>&, std::size_t)>& skip = {}) {
  if (x.dtype() != DType::kFloat64) {
    return ::testing::AssertionFailure() << "gradient checks run in float64";
  }
  const std::vector<double> w = as_doubles(dy);
  const std::vector<double> a = as_doubles(analytic);
  const std::vector<double> x0 = as_doubles(x);
  const auto loss = [&](const Tensor& xi) {
    const std::vector<double> y = as_doubles(f(xi));
    double s = 0;
    for (std::size_t k = 0; k < y.size(); ++k) s += y[k] * w[k];
    return s;
  };
  std::ostringstream bad;
  int mismatches = 0;
  for (std::size_t i = 0; i < x0.size(); ++i) {
    if (skip && skip(x0, i)) continue;
    Tensor xp = x.to(Device::cpu()).clone();
    Tensor xm = x.to(Device::cpu()).clone();
    xp.data<double>()[i] += eps;
    xm.data<double>()[i] -= eps;
    const double numeric = (loss(xp.to(x.device())) - loss(xm.to(x.device()))) / (2 * eps);
    if (!(std::fabs(numeric - a[i]) <= tol * (1 + std::fabs(numeric)))) {
      if (mismatches < 5) bad << "\n  [" << i << "] analytic " << a[i] << ", numeric " << numeric;
      ++mismatches;
    }
  }
  if (mismatches > 0) {
    return ::testing::AssertionFailure() << mismatches << " gradient elements differ" << bad.str();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace cudanet::testing
