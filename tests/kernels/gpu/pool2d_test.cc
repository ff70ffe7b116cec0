// Pooling on the GPU against the CPU reference: max pooling and its argmax are exact on any data,
// the gather backward passes reproduce the reference's summation order (bitwise), average
// pooling is exact on small integers with power-of-two windows. Outputs are poisoned first.
#include "kernels/pool2d.h"

#include <gtest/gtest.h>
#include <vector>

#include "kernels/common.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;

constexpr Device kGpu = Device::cuda(0);

struct Case {
  const char* name;
  Shape shape;
  Pool2dParams p;
};

Pool2dParams rect_params() {
  Pool2dParams p;
  p.kernel_h = 2;
  p.kernel_w = 3;
  p.stride_h = 1;
  p.stride_w = 2;
  p.pad_h = 1;
  p.pad_w = 1;
  return p;
}

std::vector<Case> cases() {
  return {{"alexnet_pool1", {2, 96, 55, 55}, Pool2dParams::square(3, 2)},
          {"odd_c3_s13_batch1", {1, 3, 13, 13}, Pool2dParams::square(3, 2, 1)},
          {"stride4", {3, 5, 17, 15}, Pool2dParams::square(5, 4, 2)},
          {"rect", {2, 3, 13, 11}, rect_params()},
          {"lenet", {4, 6, 28, 28}, Pool2dParams::square(2)}};
}

Tensor poisoned_indices(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kInt64, kGpu);
  t.fill_(-7);  // -1 is a legal argmax
  return t;
}

TEST(Pool2dGpu, MaxForwardAndBackwardEqualTheReference) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 1;
  for (const Case& c : cases()) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << c.name << " " << dtype);
      const Tensor x = testing::random_tensor(c.shape, dtype, seed++);
      Tensor argmax_ref;
      const Tensor y_ref = max_pool2d_forward(x, c.p, &argmax_ref);
      const Tensor dy = testing::random_tensor(y_ref.shape(), dtype, seed++);
      const Tensor dx_ref = max_pool2d_backward(dy, argmax_ref, c.shape, c.p);

      const Pool2dGeometry g = pool2d_geometry(c.shape, c.p, "test");
      const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
      Tensor y = poisoned(y_ref.shape(), dtype), argmax = poisoned_indices(y_ref.shape());
      cuda::max_pool2d_forward(xd.data_ptr(), y.data_ptr(), argmax.data<std::int64_t>(), g, dtype,
                               current_stream(kGpu));
      EXPECT_TRUE(all_equal(y, y_ref));
      EXPECT_EQ(argmax.to_vector<std::int64_t>(), argmax_ref.to_vector<std::int64_t>());
      Tensor dx = poisoned(c.shape, dtype);
      cuda::max_pool2d_backward(dyd.data_ptr(), argmax.data<std::int64_t>(), dx.data_ptr(), g,
                                dtype, current_stream(kGpu));
      EXPECT_TRUE(all_equal(dx, dx_ref));

      // The Tensor-level entry points dispatch to the same kernels.
      Tensor argmax_t;
      EXPECT_TRUE(all_equal(max_pool2d_forward(xd, c.p, &argmax_t), y_ref));
      EXPECT_TRUE(all_equal(max_pool2d_backward(dyd, argmax_t, c.shape, c.p), dx_ref));
      EXPECT_EQ(argmax_t.device(), kGpu);
    }
  }
}

// The window-offset argmax (what the layers keep): the same bytes as the CPU's, on ReLU-like data
// full of ties, and the same dx bit for bit.
TEST(Pool2dGpu, WindowOffsetArgmaxEqualsTheReference) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 50;
  for (const Case& c : cases()) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << c.name << " " << dtype);
      const Tensor x = testing::small_int_tensor(c.shape, dtype, seed++, 0, 3);
      Tensor argmax_ref;
      const Tensor y_ref = max_pool2d_forward(x, c.p, &argmax_ref, ArgmaxFormat::kWindowOffset);
      const Tensor dy = testing::random_tensor(y_ref.shape(), dtype, seed++);
      const Tensor dx_ref = max_pool2d_backward(dy, argmax_ref, c.shape, c.p);

      const Pool2dGeometry g = pool2d_geometry(c.shape, c.p, "test");
      const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
      Tensor y = poisoned(y_ref.shape(), dtype);
      Tensor argmax = Tensor::empty(y_ref.shape(), DType::kUInt8, kGpu);
      argmax.fill_(200);  // poison: not a legal offset of these windows
      cuda::max_pool2d_forward(xd.data_ptr(), y.data_ptr(), argmax.data<std::uint8_t>(), g, dtype,
                               current_stream(kGpu));
      EXPECT_TRUE(all_equal(y, y_ref));
      EXPECT_EQ(argmax.to_vector<std::uint8_t>(), argmax_ref.to_vector<std::uint8_t>());
      Tensor dx = poisoned(c.shape, dtype);
      cuda::max_pool2d_backward(dyd.data_ptr(), argmax.data<std::uint8_t>(), dx.data_ptr(), g,
                                dtype, current_stream(kGpu));
      EXPECT_TRUE(all_equal(dx, dx_ref));

      Tensor argmax_t;
      EXPECT_TRUE(
          all_equal(max_pool2d_forward(xd, c.p, &argmax_t, ArgmaxFormat::kWindowOffset), y_ref));
      EXPECT_EQ(argmax_t.dtype(), DType::kUInt8);
      EXPECT_TRUE(all_equal(max_pool2d_backward(dyd, argmax_t, c.shape, c.p), dx_ref));
    }
  }
}

TEST(Pool2dGpu, MaxForwardWithoutArgmax) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({1, 3, 13, 13}, DType::kFloat32, 9);
  const Pool2dParams p = Pool2dParams::square(3, 2);
  EXPECT_TRUE(
      all_equal(max_pool2d_forward(x.to(kGpu), p, nullptr), max_pool2d_forward(x, p, nullptr)));
}

TEST(Pool2dGpu, AvgMatchesTheReference) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 100;
  for (const Case& c : cases()) {
    for (bool include_pad : {true, false}) {
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        SCOPED_TRACE(::testing::Message() << c.name << " " << dtype << " pad " << include_pad);
        Pool2dParams p = c.p;
        p.count_include_pad = include_pad;
        const Tensor x = testing::random_tensor(c.shape, dtype, seed++);
        const Tensor y_ref = avg_pool2d_forward(x, p);
        const Tensor dy = testing::random_tensor(y_ref.shape(), dtype, seed++);
        const Tensor dx_ref = avg_pool2d_backward(dy, c.shape, p);

        const Pool2dGeometry g = pool2d_geometry(c.shape, p, "test");
        const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
        Tensor y = poisoned(y_ref.shape(), dtype);
        cuda::avg_pool2d_forward(xd.data_ptr(), y.data_ptr(), g, dtype, current_stream(kGpu));
        EXPECT_TRUE(all_close(y, y_ref));
        Tensor dx = poisoned(c.shape, dtype);
        cuda::avg_pool2d_backward(dyd.data_ptr(), dx.data_ptr(), g, dtype, current_stream(kGpu));
        EXPECT_TRUE(all_close(dx, dx_ref));
        EXPECT_TRUE(all_close(avg_pool2d_forward(xd, p), y_ref));
        EXPECT_TRUE(all_close(avg_pool2d_backward(dyd, c.shape, p), dx_ref));
      }
    }
  }
}

TEST(Pool2dGpu, AvgIsExactOnSmallIntegersWithPowerOfTwoWindows) {
  CUDANET_REQUIRE_GPU();
  const std::vector<Case> exact = {{"2x2", {2, 3, 16, 16}, Pool2dParams::square(2)},
                                   {"4x4_s2_pad", {1, 3, 13, 13}, Pool2dParams::square(4, 2, 2)},
                                   {"2x2_s1", {1, 5, 9, 9}, Pool2dParams::square(2, 1)}};
  std::uint64_t seed = 300;
  for (const Case& c : exact) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << c.name << " " << dtype);
      const Tensor x = testing::small_int_tensor(c.shape, dtype, seed++);
      const Tensor y_ref = avg_pool2d_forward(x, c.p);
      const Tensor dy = testing::small_int_tensor(y_ref.shape(), dtype, seed++);
      EXPECT_TRUE(all_equal(avg_pool2d_forward(x.to(kGpu), c.p), y_ref));
      EXPECT_TRUE(all_equal(avg_pool2d_backward(dy.to(kGpu), c.shape, c.p),
                            avg_pool2d_backward(dy, c.shape, c.p)));
    }
  }
}

TEST(Pool2dGpu, BackwardIsDeterministic) {
  CUDANET_REQUIRE_GPU();
  const bool was = deterministic();
  for (bool mode : {true, false}) {
    set_deterministic(mode);
    const Shape shape{8, 64, 27, 27};
    const Pool2dParams p = Pool2dParams::square(3, 2);  // overlapping windows
    const Tensor x = testing::random_tensor(shape, DType::kFloat32, 400, -1, 1, kGpu);
    Tensor argmax;
    const Tensor y = max_pool2d_forward(x, p, &argmax);
    const Tensor dy = testing::random_tensor(y.shape(), DType::kFloat32, 401, -1, 1, kGpu);
    EXPECT_TRUE(all_equal(max_pool2d_backward(dy, argmax, shape, p),
                          max_pool2d_backward(dy, argmax, shape, p)));
    EXPECT_TRUE(all_equal(avg_pool2d_backward(dy, shape, p), avg_pool2d_backward(dy, shape, p)));
  }
  set_deterministic(was);
}

TEST(Pool2dGpu, RejectsDeviceMismatch) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({1, 2, 6, 6}, DType::kFloat32, 1);
  Tensor argmax;
  const Tensor y = max_pool2d_forward(x, Pool2dParams::square(2), &argmax);
  EXPECT_THROW(max_pool2d_backward(y.to(kGpu), argmax, x.shape(), Pool2dParams::square(2)),
               ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
