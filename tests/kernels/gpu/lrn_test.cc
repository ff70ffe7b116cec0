// Local response normalisation on the GPU against the CPU reference, forward (output and scale)
// and backward, with outputs poisoned first.
#include "kernels/lrn.h"

#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;

constexpr Device kGpu = Device::cuda(0);

struct Case {
  const char* name;
  Shape shape;
  LrnParams p;
};

TEST(LrnGpu, MatchesTheReference) {
  CUDANET_REQUIRE_GPU();
  const std::vector<Case> cases = {{"alexnet_norm1", {2, 96, 55, 55}, LrnParams{}},
                                   {"odd_c3_s13_batch1", {1, 3, 13, 13}, {5, 0.1, 0.75, 1.0}},
                                   {"even_size_3d", {3, 7, 5}, {4, 0.5, 0.75, 2.0}},
                                   {"size1", {2, 16, 13, 13}, {1, 0.2, 1.5, 1.0}},
                                   {"wide_window", {2, 5, 4, 3}, {9, 0.3, 0.6, 1.0}}};
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << c.name << " " << dtype);
      const Tensor x = testing::random_tensor(c.shape, dtype, seed++, -2, 2);
      const Tensor dy = testing::random_tensor(c.shape, dtype, seed++);
      Tensor scale_ref;
      const Tensor y_ref = lrn_forward(x, c.p, &scale_ref);
      const Tensor dx_ref = lrn_backward(dy, x, y_ref, scale_ref, c.p);

      const LrnGeometry g = lrn_geometry(c.shape, c.p, "test");
      const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
      Tensor y = Tensor::empty(c.shape, dtype, kGpu), scale = Tensor::empty(c.shape, dtype, kGpu);
      testing::poison(y);
      testing::poison(scale);
      cuda::lrn_forward(xd.data_ptr(), y.data_ptr(), scale.data_ptr(), g, dtype,
                        current_stream(kGpu));
      EXPECT_TRUE(all_close(y, y_ref));
      EXPECT_TRUE(all_close(scale, scale_ref));

      // Backward from the reference's saved tensors, so the comparison isolates the backward.
      const Tensor yr = y_ref.to(kGpu), sr = scale_ref.to(kGpu);
      Tensor dx = Tensor::empty(c.shape, dtype, kGpu);
      testing::poison(dx);
      cuda::lrn_backward(dyd.data_ptr(), xd.data_ptr(), yr.data_ptr(), sr.data_ptr(), dx.data_ptr(),
                         g, dtype, current_stream(kGpu));
      EXPECT_TRUE(all_close(dx, dx_ref));

      // Tensor level, end to end on the device.
      Tensor scale_d;
      const Tensor y_d = lrn_forward(xd, c.p, &scale_d);
      EXPECT_TRUE(all_close(y_d, y_ref));
      EXPECT_TRUE(all_close(lrn_backward(dyd, xd, y_d, scale_d, c.p), dx_ref));
      EXPECT_TRUE(all_close(lrn_forward(xd, c.p, nullptr), y_ref));
    }
  }
}

// The scale recomputed in the backward (the memory plan's LRN keeps none): dx bit for bit the
// device's own dx from the saved scale, raw launcher (poisoned output) and tensor level.
TEST(LrnGpu, RecomputedScaleGivesTheSameGradientBitForBit) {
  CUDANET_REQUIRE_GPU();
  const std::vector<Case> cases = {{"alexnet_norm1", {2, 96, 55, 55}, {5, 1e-4, 0.75, 2.0}},
                                   {"even_size_3d", {3, 7, 5}, {4, 0.5, 0.75, 2.0}},
                                   {"wide_window", {2, 5, 4, 3}, {9, 0.3, 0.6, 1.0}}};
  std::uint64_t seed = 300;
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(::testing::Message() << c.name << " " << dtype);
      const Tensor xd = testing::random_tensor(c.shape, dtype, seed++, -2, 2).to(kGpu);
      const Tensor dyd = testing::random_tensor(c.shape, dtype, seed++).to(kGpu);
      Tensor scale;
      const Tensor y = lrn_forward(xd, c.p, &scale);
      const Tensor dx_saved = lrn_backward(dyd, xd, y, scale, c.p);
      EXPECT_TRUE(testing::all_equal(lrn_backward(dyd, xd, y, Tensor(), c.p), dx_saved));
      const LrnGeometry g = lrn_geometry(c.shape, c.p, "test");
      Tensor dx = Tensor::empty(c.shape, dtype, kGpu);
      testing::poison(dx);
      cuda::lrn_backward(dyd.data_ptr(), xd.data_ptr(), y.data_ptr(), nullptr, dx.data_ptr(), g,
                         dtype, current_stream(kGpu));
      EXPECT_TRUE(testing::all_equal(dx, dx_saved));
    }
  }
}

TEST(LrnGpu, RejectsDeviceMismatch) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({1, 4, 2, 2}, DType::kFloat32, 1);
  Tensor scale;
  const Tensor y = lrn_forward(x, LrnParams{}, &scale);
  EXPECT_THROW(lrn_backward(y.to(kGpu), x, y, scale, LrnParams{}), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
