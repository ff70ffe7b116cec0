// GEMM on the CPU: the reference against hand-computed values and explicit transposes, OpenBLAS
// against the reference, alpha/beta, odd and empty sizes, and argument checks.
#include "kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/config.h"
#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor make(const std::vector<double>& v, const Shape& shape, DType dtype) {
  if (dtype == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

// A stored copy of the transpose of a 2-D CPU tensor.
Tensor transposed(const Tensor& t) {
  const std::int64_t r = t.size(0), c = t.size(1);
  std::vector<double> v = testing::as_doubles(t), out(v.size());
  for (std::int64_t i = 0; i < r; ++i) {
    for (std::int64_t j = 0; j < c; ++j) out[j * r + i] = v[i * c + j];
  }
  return make(out, {c, r}, t.dtype());
}

// Tolerance for a K-long float dot product compared with the double-accumulated reference.
testing::Tolerance gemm_tolerance(DType dtype, std::int64_t k) {
  const double s = std::max(1.0, std::sqrt(static_cast<double>(k)) / 4.0);
  const testing::Tolerance base = testing::tolerance_for(dtype);
  return {base.atol * s, base.rtol, base.max_relative_error * s};
}

// Operands for op(A) [m, k] and op(B) [k, n], stored transposed when asked.
std::pair<Tensor, Tensor> operands(std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb,
                                   DType dt, std::uint64_t seed, bool small_int) {
  const Shape sa = ta ? Shape{k, m} : Shape{m, k};
  const Shape sb = tb ? Shape{n, k} : Shape{k, n};
  if (small_int) {
    return {testing::small_int_tensor(sa, dt, seed), testing::small_int_tensor(sb, dt, seed + 1)};
  }
  return {testing::random_tensor(sa, dt, seed), testing::random_tensor(sb, dt, seed + 1)};
}

template <typename E, typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

class GemmCpu : public ::testing::TestWithParam<DType> {};

TEST_P(GemmCpu, HandComputed2x3Times3x2AllTransposes) {
  const DType dt = GetParam();
  const Tensor a = make({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
  const Tensor b = make({7, 8, 9, 10, 11, 12}, {3, 2}, dt);
  const Tensor expected = make({58, 64, 139, 154}, {2, 2}, dt);
  for (GemmBackend be : {GemmBackend::kDefault, GemmBackend::kReference}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        Tensor c = Tensor::empty({2, 2}, dt);
        testing::poison(c);
        gemm(ta ? transposed(a) : a, ta, tb ? transposed(b) : b, tb, c, 1.0, 0.0, be);
        EXPECT_TRUE(all_equal(c, expected))
            << gemm_backend_name(be) << " ta=" << ta << " tb=" << tb;
      }
    }
  }
  // A^T A for A [2, 3] is [3, 3]: the same operand on both sides.
  const Tensor ata = matmul(a, a, true, false);
  EXPECT_TRUE(all_equal(ata, make({17, 22, 27, 22, 29, 36, 27, 36, 45}, {3, 3}, dt)));
}

TEST_P(GemmCpu, AlphaBetaKnownValues) {
  const DType dt = GetParam();
  const Tensor a = make({1, 2, 3, 4}, {2, 2}, dt);
  const Tensor b = make({5, 6, 7, 8}, {2, 2}, dt);  // a b = [[19, 22], [43, 50]]
  for (GemmBackend be : {GemmBackend::kDefault, GemmBackend::kReference}) {
    Tensor c = make({1, -1, 2, -2}, {2, 2}, dt);
    gemm(a, false, b, false, c, 2.0, 0.5, be);
    EXPECT_TRUE(all_equal(c, make({38.5, 43.5, 87, 99}, {2, 2}, dt))) << gemm_backend_name(be);
    gemm(a, false, b, false, c, -1.0, 1.0, be);  // accumulate: c += -a b
    EXPECT_TRUE(all_equal(c, make({19.5, 21.5, 44, 49}, {2, 2}, dt))) << gemm_backend_name(be);
    gemm(a, false, b, false, c, 0.0, 2.0, be);  // alpha 0: scale only
    EXPECT_TRUE(all_equal(c, make({39, 43, 88, 98}, {2, 2}, dt))) << gemm_backend_name(be);
  }
}

TEST_P(GemmCpu, BetaZeroDoesNotReadC) {
  const DType dt = GetParam();
  for (GemmBackend be : {GemmBackend::kDefault, GemmBackend::kReference}) {
    auto [a, b] = operands(9, 7, 5, false, false, dt, 3, true);
    Tensor c = Tensor::empty({9, 7}, dt);
    testing::poison(c);
    gemm(a, false, b, false, c, 1.0, 0.0, be);
    Tensor ref = Tensor::zeros({9, 7}, dt);
    gemm(a, false, b, false, ref, 1.0, 0.0, GemmBackend::kReference);
    EXPECT_TRUE(all_equal(c, ref)) << gemm_backend_name(be);
  }
}

// The reference with transposed storage equals the reference on explicit transposes, and the
// default backend (OpenBLAS when built with it) matches the reference: exactly on small integers,
// within tolerance on random data.
TEST_P(GemmCpu, OddSizesAllTransposesMatchReference) {
  const DType dt = GetParam();
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> sizes = {
      {1, 1, 1}, {17, 33, 5}, {127, 1, 129}, {1, 64, 3}, {13, 13, 200}, {65, 3, 1}};
  std::uint64_t seed = 10;
  for (const auto& [m, n, k] : sizes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (bool small_int : {true, false}) {
          const std::string what = "m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                   " k=" + std::to_string(k) + " ta=" + std::to_string(ta) +
                                   " tb=" + std::to_string(tb) +
                                   " int=" + std::to_string(small_int);
          auto [a, b] = operands(m, n, k, ta, tb, dt, seed += 2, small_int);
          Tensor plain = Tensor::empty({m, n}, dt);
          gemm(ta ? transposed(a) : a, false, tb ? transposed(b) : b, false, plain, 1.0, 0.0,
               GemmBackend::kReference);
          Tensor ref = Tensor::empty({m, n}, dt);
          gemm(a, ta, b, tb, ref, 1.0, 0.0, GemmBackend::kReference);
          EXPECT_TRUE(all_equal(ref, plain)) << what;

          Tensor c = testing::random_tensor({m, n}, dt, seed + 100);
          Tensor c_ref = c.clone();
          gemm(a, ta, b, tb, c, -0.5, 0.25);
          gemm(a, ta, b, tb, c_ref, -0.5, 0.25, GemmBackend::kReference);
          if (small_int) {
            Tensor d = Tensor::empty({m, n}, dt);
            testing::poison(d);
            gemm(a, ta, b, tb, d);
            EXPECT_TRUE(all_equal(d, ref)) << what;
          }
          EXPECT_TRUE(all_close(c, c_ref, gemm_tolerance(dt, k))) << what;
        }
      }
    }
  }
}

TEST_P(GemmCpu, EmptySizes) {
  const DType dt = GetParam();
  // K == 0: C = beta * C.
  Tensor c = make({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
  gemm(Tensor::empty({2, 0}, dt), false, Tensor::empty({0, 3}, dt), false, c, 1.0, 2.0);
  EXPECT_TRUE(all_equal(c, make({2, 4, 6, 8, 10, 12}, {2, 3}, dt)));
  testing::poison(c);
  gemm(Tensor::empty({0, 2}, dt), true, Tensor::empty({3, 0}, dt), true, c);
  EXPECT_TRUE(all_equal(c, Tensor::zeros({2, 3}, dt)));
  // M == 0 or N == 0: nothing to do.
  EXPECT_EQ(matmul(Tensor::empty({0, 4}, dt), Tensor::empty({4, 3}, dt)).shape(), (Shape{0, 3}));
  EXPECT_EQ(matmul(Tensor::empty({2, 4}, dt), Tensor::empty({4, 0}, dt)).shape(), (Shape{2, 0}));
}

TEST_P(GemmCpu, CudaBackendsOnCpuTensorsRunTheCpuGemm) {
  const DType dt = GetParam();
  auto [a, b] = operands(6, 5, 4, false, true, dt, 77, true);
  const Tensor ref = matmul(a, b, false, true, GemmBackend::kReference);
  EXPECT_TRUE(all_equal(matmul(a, b, false, true, GemmBackend::kNative), ref));
  EXPECT_TRUE(all_equal(matmul(a, b, false, true, GemmBackend::kCublas), ref));
  EXPECT_EQ(matmul(a, b, false, true).device(), Device::cpu());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GemmCpu, ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(dtype_name(p.param));
                         });

TEST(GemmCpuErrors, BadShapesThrowShapeError) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  Tensor c = Tensor::zeros({2, 5});
  expect_error<ShapeError>([&] { gemm(a, false, b, false, c); }, "inner dimensions");
  expect_error<ShapeError>([&] { matmul(a, b); }, "matmul");
  Tensor c_bad = Tensor::zeros({5, 2});
  expect_error<ShapeError>([&] { gemm(a, true, Tensor::zeros({2, 5}), false, c_bad); }, "c has");
  expect_error<ShapeError>([&] { matmul(Tensor::zeros({6}), b); }, "matmul: a must have 2");
  expect_error<ShapeError>([&] { matmul(a, Tensor::zeros({3, 4, 1})); }, "b must have 2");
  Tensor c1 = Tensor::zeros({10});
  expect_error<ShapeError>([&] { gemm(a, false, Tensor::zeros({3, 5}), false, c1); }, "c must");
}

TEST(GemmCpuErrors, BadArgumentsThrowValueError) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  Tensor c = Tensor::zeros({2, 2});
  Tensor c64 = Tensor::zeros({2, 2}, DType::kFloat64);
  expect_error<ValueError>([&] { gemm(a, false, b, false, c64); }, "dtypes");
  expect_error<ValueError>([&] { matmul(a, Tensor::zeros({3, 2}, DType::kFloat64)); }, "dtypes");
  expect_error<ValueError>([&] { matmul(Tensor::zeros({2, 3}, DType::kInt32), b); }, "int32");
  expect_error<ValueError>([&] { matmul(Tensor(), b); }, "undefined");
  const Tensor wide = Tensor::zeros({3, 4});
  expect_error<ValueError>([&] { matmul(a, wide.narrow(1, 0, 2)); }, "contiguous");
  // The output overlapping an input.
  Tensor sq = Tensor::zeros({3, 3});
  expect_error<ValueError>([&] { gemm(sq, false, Tensor::zeros({3, 3}), false, sq); }, "overlaps");
  Tensor big = Tensor::zeros({4, 3});
  Tensor tail = big.narrow(0, 1, 3);
  expect_error<ValueError>([&] { gemm(big.narrow(0, 0, 3), false, sq, false, tail); }, "overlaps");
}

TEST(GemmCpuErrors, ChecksRunBeforeTheOutputIsTouched) {
  Tensor c = Tensor::full({2, 2}, 7.0);
  EXPECT_THROW(gemm(Tensor::zeros({2, 3}), false, Tensor::zeros({2, 2}), false, c), ShapeError);
  EXPECT_TRUE(all_equal(c, Tensor::full({2, 2}, 7.0)));
}

TEST(GemmSettings, Tf32SwitchAndBackendNames) {
  const bool before = allow_tf32();
  set_allow_tf32(true);
  EXPECT_TRUE(allow_tf32());
  set_allow_tf32(false);
  EXPECT_FALSE(allow_tf32());
  set_allow_tf32(before);
  EXPECT_STREQ(gemm_backend_name(GemmBackend::kDefault), "default");
  EXPECT_STREQ(gemm_backend_name(GemmBackend::kNative), "native");
  EXPECT_STREQ(gemm_backend_name(GemmBackend::kCublas), "cublas");
  EXPECT_STREQ(gemm_backend_name(GemmBackend::kReference), "reference");
  EXPECT_EQ(cpu::have_openblas(), CUDANET_WITH_OPENBLAS != 0);
}

}  // namespace
}  // namespace cudanet::kernels
