// Fused optimizer updates on the GPU: five steps agree with the CPU reference for every variant
// (plain SGD, momentum, Nesterov, L2, L1; Adam and AdamW), odd sizes, float32 and float64.
#include "kernels/optimizer.h"

#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::all_close;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

const std::vector<Shape> kShapes{{1}, {3, 13}, {96, 3, 11, 11}};

TEST(OptimizerGpu, SgdFiveStepsMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const std::vector<SgdParams> variants{{0.1, 0, false, 0, 0},
                                        {0.05, 0.9, false, 5e-4, 0},
                                        {0.05, 0.9, true, 5e-4, 1e-3},
                                        {0.01, 0.5, false, 0, 1e-2}};
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      for (const SgdParams& p : variants) {
        Tensor w = random_tensor(shape, dt, 1), buf = Tensor::zeros(shape, dt);
        Tensor wg = w.to(kGpu).clone(), bufg = Tensor::zeros(shape, dt, kGpu);
        for (int step = 0; step < 5; ++step) {
          const Tensor g = random_tensor(shape, dt, 10 + step);
          sgd_update(w, g, &buf, p);
          sgd_update(wg, g.to(kGpu), &bufg, p);
        }
        EXPECT_TRUE(all_close(wg, w))
            << shape_str(shape) << " " << dt << " m " << p.momentum << " nesterov " << p.nesterov;
        if (p.momentum > 0) {
          EXPECT_TRUE(all_close(bufg, buf)) << shape_str(shape) << " " << dt;
        }
      }
    }
  }
}

TEST(OptimizerGpu, AdamFiveStepsMatchCpu) {
  CUDANET_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      for (const bool decoupled : {false, true}) {
        const AdamParams p{1e-3, 0.9, 0.999, 1e-8, 1e-2, decoupled};
        Tensor w = random_tensor(shape, dt, 2);
        Tensor m = Tensor::zeros(shape, dt), v = Tensor::zeros(shape, dt);
        Tensor wg = w.to(kGpu).clone();
        Tensor mg = Tensor::zeros(shape, dt, kGpu), vg = Tensor::zeros(shape, dt, kGpu);
        for (int step = 1; step <= 5; ++step) {
          const Tensor g = random_tensor(shape, dt, 20 + step);
          adam_update(w, g, m, v, p, step);
          adam_update(wg, g.to(kGpu), mg, vg, p, step);
        }
        EXPECT_TRUE(all_close(wg, w)) << shape_str(shape) << " " << dt << " AdamW " << decoupled;
        EXPECT_TRUE(all_close(mg, m)) << shape_str(shape) << " " << dt;
        EXPECT_TRUE(all_close(vg, v)) << shape_str(shape) << " " << dt;
      }
    }
  }
}

}  // namespace
}  // namespace cudanet::kernels
