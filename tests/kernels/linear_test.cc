// Linear op on the CPU: known values, finite-difference gradients (float64), in-place
// accumulation, bias add / bias gradient, and argument checks.
#include "kernels/linear.h"

#include <gtest/gtest.h>
#include <string>
#include <tuple>
#include <vector>

#include "tensor_testing.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor make(const std::vector<double>& v, const Shape& shape, DType dtype) {
  if (dtype == DType::kFloat64) return Tensor::from_vector(v, shape);
  return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
}

class LinearCpu : public ::testing::TestWithParam<DType> {};

TEST_P(LinearCpu, ForwardKnownValues) {
  const DType dt = GetParam();
  const Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, dt);   // N = 2, in = 3
  const Tensor w = make({1, 0, -1, 2, 1, 0}, {2, 3}, dt);  // out = 2
  const Tensor b = make({10, -10}, {2}, dt);
  // x w^T = [[1 - 3, 2 + 2], [4 - 6, 8 + 5]] = [[-2, 4], [-2, 13]]
  EXPECT_TRUE(all_equal(linear_forward(x, w, nullptr), make({-2, 4, -2, 13}, {2, 2}, dt)));
  EXPECT_TRUE(all_equal(linear_forward(x, w, &b), make({8, -6, 8, 3}, {2, 2}, dt)));
  EXPECT_TRUE(all_equal(linear_forward(x, w, &b, GemmBackend::kReference),
                        make({8, -6, 8, 3}, {2, 2}, dt)));
}

TEST_P(LinearCpu, BackwardKnownValues) {
  const DType dt = GetParam();
  const Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
  const Tensor w = make({1, 0, -1, 2, 1, 0}, {2, 3}, dt);
  const Tensor dy = make({1, 2, -1, 3}, {2, 2}, dt);
  const LinearGrads g = linear_backward(dy, x, w, true);
  // dx = dy w = [[1 + 4, 2, -1], [-1 + 6, 3, 1]]
  EXPECT_TRUE(all_equal(g.dx, make({5, 2, -1, 5, 3, 1}, {2, 3}, dt)));
  // dw = dy^T x = [[1 - 4, 2 - 5, 3 - 6], [2 + 12, 4 + 15, 6 + 18]]
  EXPECT_TRUE(all_equal(g.dw, make({-3, -3, -3, 14, 19, 24}, {2, 3}, dt)));
  EXPECT_TRUE(all_equal(g.db, make({0, 5}, {2}, dt)));
  EXPECT_FALSE(linear_backward(dy, x, w, false).db.defined());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearCpu, ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(dtype_name(p.param));
                         });

TEST(LinearCpuGradient, FiniteDifferences) {
  const DType dt = DType::kFloat64;
  for (const auto& [n, in, out] :
       std::vector<std::tuple<int, int, int>>{{3, 4, 5}, {1, 3, 13}, {7, 1, 2}}) {
    const Tensor x = testing::random_tensor({n, in}, dt, 1);
    const Tensor w = testing::random_tensor({out, in}, dt, 2);
    const Tensor b = testing::random_tensor({out}, dt, 3);
    const Tensor dy = testing::random_tensor({n, out}, dt, 4);
    const LinearGrads g = linear_backward(dy, x, w, true);
    const std::string what =
        std::to_string(n) + "x" + std::to_string(in) + "->" + std::to_string(out);
    EXPECT_TRUE(testing::check_gradient([&](const Tensor& xi) { return linear_forward(xi, w, &b); },
                                        x, dy, g.dx))
        << "dx " << what;
    EXPECT_TRUE(testing::check_gradient([&](const Tensor& wi) { return linear_forward(x, wi, &b); },
                                        w, dy, g.dw))
        << "dw " << what;
    EXPECT_TRUE(testing::check_gradient([&](const Tensor& bi) { return linear_forward(x, w, &bi); },
                                        b, dy, g.db))
        << "db " << what;
  }
}

TEST(LinearCpuInto, AccumulatesParameterGradients) {
  const DType dt = DType::kFloat64;
  const Tensor x = testing::small_int_tensor({5, 4}, dt, 11);
  const Tensor w = testing::small_int_tensor({3, 4}, dt, 12);
  const Tensor dy = testing::small_int_tensor({5, 3}, dt, 13);
  const LinearGrads fresh = linear_backward(dy, x, w, true);

  Tensor dx = Tensor::empty({5, 4}, dt);
  testing::poison(dx);
  Tensor dw = Tensor::full({3, 4}, 1.0, dt);
  Tensor db = Tensor::full({3}, -2.0, dt);
  linear_backward_into(dy, x, w, &dx, &dw, &db, /*accumulate=*/true);
  EXPECT_TRUE(all_equal(dx, fresh.dx));
  const std::vector<double> gw = testing::as_doubles(fresh.dw), gb = testing::as_doubles(fresh.db);
  std::vector<double> ew(gw), eb(gb);
  for (double& v : ew) v += 1.0;
  for (double& v : eb) v -= 2.0;
  EXPECT_TRUE(all_equal(dw, make(ew, {3, 4}, dt)));
  EXPECT_TRUE(all_equal(db, make(eb, {3}, dt)));

  // Without accumulation the buffers are overwritten (poison is not read); dx may be skipped.
  testing::poison(dw);
  testing::poison(db);
  linear_backward_into(dy, x, w, nullptr, &dw, &db, /*accumulate=*/false);
  EXPECT_TRUE(all_equal(dw, fresh.dw));
  EXPECT_TRUE(all_equal(db, fresh.db));
}

TEST(LinearCpuBias, AddAndGradKnownValues) {
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    Tensor y = make({1, 2, 3, 4, 5, 6}, {3, 2}, dt);
    bias_add(y, make({10, 20}, {2}, dt));
    EXPECT_TRUE(all_equal(y, make({11, 22, 13, 24, 15, 26}, {3, 2}, dt)));
    EXPECT_TRUE(all_equal(bias_grad(y), make({39, 72}, {2}, dt)));
    Tensor db = make({1, 1}, {2}, dt);
    bias_grad(y, db, /*accumulate=*/true);
    EXPECT_TRUE(all_equal(db, make({40, 73}, {2}, dt)));
    EXPECT_TRUE(all_equal(bias_grad(Tensor::empty({0, 2}, dt)), Tensor::zeros({2}, dt)));
  }
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

TEST(LinearCpuErrors, BadArguments) {
  const Tensor x = Tensor::zeros({4, 3}), w = Tensor::zeros({5, 3}), b = Tensor::zeros({5});
  const Tensor dy = Tensor::zeros({4, 5});
  expect_error<ShapeError>([&] { linear_forward(Tensor::zeros({3}), w, &b); }, "linear_forward");
  expect_error<ShapeError>([&] { linear_forward(x, Tensor::zeros({5, 4}), &b); }, "features");
  const Tensor b4 = Tensor::zeros({4});
  expect_error<ShapeError>([&] { linear_forward(x, w, &b4); }, "b has shape");
  const Tensor b64 = Tensor::zeros({5}, DType::kFloat64);
  expect_error<ValueError>([&] { linear_forward(x, w, &b64); }, "dtypes");
  expect_error<ValueError>(
      [&] {
        linear_forward(x, Tensor::zeros({5, 3}, DType::kInt64), &b);
      },
      "int64");
  expect_error<ShapeError>([&] { linear_backward(Tensor::zeros({4, 6}), x, w, true); }, "dy has");
  expect_error<ShapeError>(
      [&] {
        linear_backward(dy, x, Tensor::zeros({5, 2}), true);
      },
      "linear_backward");
  Tensor dw_bad = Tensor::zeros({3, 5});
  expect_error<ShapeError>(
      [&] { linear_backward_into(dy, x, w, nullptr, &dw_bad, nullptr, false); }, "dw has");
  Tensor x_mut = x.clone();
  expect_error<ValueError>(
      [&] { linear_backward_into(dy, x_mut, w, &x_mut, nullptr, nullptr, false); }, "overlaps");
  Tensor y = Tensor::zeros({2, 3});
  expect_error<ShapeError>([&] { bias_add(y, Tensor::zeros({2})); }, "bias_add");
  Tensor db = Tensor::zeros({4});
  expect_error<ShapeError>([&] { bias_grad(dy, db); }, "bias_grad");
}

}  // namespace
}  // namespace cudanet::kernels
