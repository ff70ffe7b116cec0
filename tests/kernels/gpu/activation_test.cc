// Activations on the GPU against the CPU reference: ReLU and leaky ReLU exactly, sigmoid and tanh
// within the dtype's tolerance; both the vector (aligned) and the scalar (misaligned) paths, with
// outputs poisoned first.
#include "kernels/activation.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::all_equal;

constexpr Device kGpu = Device::cuda(0);
constexpr Activation kKinds[] = {Activation::kReLU, Activation::kLeakyReLU, Activation::kSigmoid,
                                 Activation::kTanh};
constexpr double kSlope = 0.1;

bool exact(Activation kind) {
  return kind == Activation::kReLU || kind == Activation::kLeakyReLU;
}

::testing::AssertionResult matches(Activation kind, const Tensor& got, const Tensor& ref) {
  return exact(kind) ? all_equal(got, ref) : all_close(got, ref);
}

// The saved tensor of the backward: x for ReLU-like kinds, y otherwise.
Tensor saved_for(Activation kind, const Tensor& x) {
  return exact(kind) ? x : activation_forward(kind, x, kSlope);
}

TEST(ActivationGpu, MatchesTheReference) {
  CUDANET_REQUIRE_GPU();
  const std::vector<Shape> shapes = {{1, 3, 13, 13}, {64, 4097}, {2, 96, 55, 55}, {3}};
  std::uint64_t seed = 1;
  for (const Shape& shape : shapes) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const Tensor x = testing::random_tensor(shape, dtype, seed++, -6, 6);
      const Tensor dy = testing::random_tensor(shape, dtype, seed++);
      const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
      for (Activation kind : kKinds) {
        SCOPED_TRACE(::testing::Message()
                     << activation_name(kind) << " " << shape_str(shape) << " " << dtype);
        const Tensor y_ref = activation_forward(kind, x, kSlope);
        const Tensor saved = saved_for(kind, x);
        const Tensor dx_ref = activation_backward(kind, dy, saved, kSlope);
        Tensor y = Tensor::empty(shape, dtype, kGpu);
        testing::poison(y);
        cuda::activation_forward(kind, xd.data_ptr(), y.data_ptr(), x.numel(), kSlope, dtype,
                                 current_stream(kGpu));
        EXPECT_TRUE(matches(kind, y, y_ref));
        // Backward from the reference's saved tensor, so the comparison isolates the backward.
        const Tensor savedd = saved.to(kGpu);
        Tensor dx = Tensor::empty(shape, dtype, kGpu);
        testing::poison(dx);
        cuda::activation_backward(kind, dyd.data_ptr(), savedd.data_ptr(), dx.data_ptr(), x.numel(),
                                  kSlope, dtype, current_stream(kGpu));
        EXPECT_TRUE(matches(kind, dx, dx_ref));
        EXPECT_TRUE(matches(kind, activation_forward(kind, xd, kSlope), y_ref));
        EXPECT_TRUE(matches(kind, activation_backward(kind, dyd, savedd, kSlope), dx_ref));
      }
    }
  }
}

TEST(ActivationGpu, MisalignedPointersTakeTheScalarPath) {
  CUDANET_REQUIRE_GPU();
  const std::int64_t n = 1031;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor x = testing::random_tensor({n}, dtype, 50, -3, 3);
    const Tensor dy = testing::random_tensor({n}, dtype, 51);
    const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
    const std::size_t es = element_size(dtype);
    const auto at1 = [es](const Tensor& t) { return static_cast<char*>(t.data_ptr()) + es; };
    for (Activation kind : kKinds) {
      SCOPED_TRACE(::testing::Message() << activation_name(kind) << " " << dtype);
      // Elements 1..n-1 (one element past a 16-byte boundary) into y[1..n-1]; y[0] stays poison.
      Tensor y = Tensor::empty({n}, dtype, kGpu);
      testing::poison(y);
      cuda::activation_forward(kind, at1(xd), at1(y), n - 1, kSlope, dtype, current_stream(kGpu));
      const Tensor y_ref = activation_forward(kind, x.narrow(0, 1, n - 1), kSlope);
      EXPECT_TRUE(matches(kind, y.narrow(0, 1, n - 1), y_ref));
      EXPECT_TRUE(std::isnan(y.narrow(0, 0, 1).item()));

      const Tensor saved = saved_for(kind, x), savedd = saved.to(kGpu);
      Tensor dx = Tensor::empty({n}, dtype, kGpu);
      testing::poison(dx);
      cuda::activation_backward(kind, at1(dyd), at1(savedd), at1(dx), n - 1, kSlope, dtype,
                                current_stream(kGpu));
      const Tensor dx_ref =
          activation_backward(kind, dy.narrow(0, 1, n - 1), saved.narrow(0, 1, n - 1), kSlope);
      EXPECT_TRUE(matches(kind, dx.narrow(0, 1, n - 1), dx_ref));
      EXPECT_TRUE(std::isnan(dx.narrow(0, 0, 1).item()));
    }
  }
}

TEST(ActivationGpu, ExtremeValues) {
  CUDANET_REQUIRE_GPU();
  const Tensor x =
      Tensor::from_vector<float>({-1e30f, -100.f, -20.f, -0.f, 0.f, 20.f, 100.f, 1e30f}, {8});
  for (Activation kind : kKinds) {
    SCOPED_TRACE(activation_name(kind));
    EXPECT_TRUE(matches(kind, activation_forward(kind, x.to(kGpu), kSlope),
                        activation_forward(kind, x, kSlope)));
  }
}

// In place (the memory plan's ReLU): the same values as the out-of-place kernel, bit for bit, on
// the vector path and on the scalar path of a misaligned start, with edge values.
TEST(ActivationGpu, InPlaceForwardEqualsOutOfPlace) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 900;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (Activation kind : kKinds) {
      for (std::int64_t n : {1, 7, 4099, (1 << 20) + 1}) {
        SCOPED_TRACE(::testing::Message() << activation_name(kind) << " " << dtype << " n " << n);
        Tensor x = testing::random_tensor({n}, dtype, seed++, -3, 3);
        if (n > 4) {  // edge values the in-place argument relies on (kernels/activation.h)
          std::vector<double> v = testing::as_doubles(x);
          v[0] = -0.0;
          v[1] = 0.0;
          v[2] = std::numeric_limits<double>::infinity();
          v[3] = -std::numeric_limits<double>::infinity();
          x = Tensor::from_vector(v, {n}).to(dtype);
        }
        const Tensor xd = x.to(kGpu);
        const Tensor ref = activation_forward(kind, xd, kSlope);
        Tensor z = xd.clone();
        activation_forward_inplace(kind, z, kSlope);
        EXPECT_TRUE(all_equal(z, ref));  // same device, same kernel formula
        if (exact(kind)) {
          EXPECT_TRUE(all_equal(z, activation_forward(kind, x, kSlope)));  // and the CPU's
          const Tensor dy = testing::random_tensor({n}, dtype, seed++).to(kGpu);
          EXPECT_TRUE(all_equal(activation_backward(kind, dy, z, kSlope),
                                activation_backward(kind, dy, xd, kSlope)));
        }
        if (n > 1) {  // misaligned: elements 1..n-1
          Tensor w = xd.clone();
          const std::size_t es = element_size(dtype);
          cuda::activation_forward_inplace(kind, static_cast<char*>(w.data_ptr()) + es, n - 1,
                                           kSlope, dtype, current_stream(kGpu));
          EXPECT_TRUE(all_equal(w.narrow(0, 1, n - 1), ref.narrow(0, 1, n - 1)));
          EXPECT_TRUE(all_equal(w.narrow(0, 0, 1), xd.narrow(0, 0, 1)));  // untouched
        }
      }
    }
  }
}

TEST(ActivationGpu, RejectsDeviceMismatch) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({4}, DType::kFloat32, 1);
  EXPECT_THROW(relu_backward(x.to(kGpu), x), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
