// Batch normalisation on the GPU against the CPU reference: channels 3, spatial 13, batch 1, 2-D
// input, poisoned outputs, running statistics, bitwise-reproducible statistics and gradients.
#include "kernels/batchnorm.h"

#include <gtest/gtest.h>
#include <vector>

#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

BatchNormGeometry geometry(const Shape& s) {
  return {s[0], s[1], s.size() == 4 ? s[2] * s[3] : 1};
}

const std::vector<Shape> kShapes{{2, 3, 13, 13}, {1, 5, 7, 7},    {128, 10},       {3, 1},
                                 {4, 2, 1, 1},   {2, 96, 27, 27}, {1, 1, 300, 301}};

TEST(BatchNormGpu, TrainingAndInferenceForwardMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      const std::int64_t c = shape[1];
      const BatchNormGeometry g = geometry(shape);
      const Tensor x = random_tensor(shape, dt, 1, -2, 3);
      const Tensor gamma = random_tensor({c}, dt, 2, 0.5, 1.5);
      const Tensor beta = random_tensor({c}, dt, 3);
      Tensor rm = random_tensor({c}, dt, 4), rv = random_tensor({c}, dt, 5, 0.5, 2);
      Tensor rm_gpu = rm.to(kGpu).clone(), rv_gpu = rv.to(kGpu).clone();
      const BatchNormParams p{1e-5, 0.1};
      Tensor mean_ref, inv_std_ref;
      const Tensor y_ref =
          batchnorm_forward_training(x, gamma, beta, &rm, &rv, p, &mean_ref, &inv_std_ref);
      const Tensor xg = x.to(kGpu), gg = gamma.to(kGpu), bg = beta.to(kGpu);
      Tensor y = poisoned(shape, dt), mean = poisoned({c}, dt), inv_std = poisoned({c}, dt);
      cuda::batchnorm_forward_training(xg.data_ptr(), gg.data_ptr(), bg.data_ptr(), y.data_ptr(),
                                       rm_gpu.data_ptr(), rv_gpu.data_ptr(), mean.data_ptr(),
                                       inv_std.data_ptr(), g, p.eps, p.momentum, dt, stream);
      EXPECT_TRUE(all_close(y, y_ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(mean, mean_ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(inv_std, inv_std_ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(rm_gpu, rm)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(rv_gpu, rv)) << shape_str(shape) << " " << dt;

      Tensor yi = poisoned(shape, dt);
      cuda::batchnorm_forward_inference(xg.data_ptr(), gg.data_ptr(), bg.data_ptr(),
                                        rm_gpu.data_ptr(), rv_gpu.data_ptr(), yi.data_ptr(), g,
                                        p.eps, dt, stream);
      EXPECT_TRUE(all_close(yi, batchnorm_forward_inference(x, gamma, beta, rm, rv, p)))
          << shape_str(shape) << " " << dt;
    }
  }
}

TEST(BatchNormGpu, BackwardMatchesCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      const std::int64_t c = shape[1];
      const Tensor x = random_tensor(shape, dt, 6, -2, 3);
      const Tensor dy = random_tensor(shape, dt, 7);
      const Tensor gamma = random_tensor({c}, dt, 8, 0.5, 1.5);
      Tensor mean, inv_std;
      batchnorm_forward_training(x, gamma, Tensor::zeros({c}, dt), nullptr, nullptr, {}, &mean,
                                 &inv_std);
      const BatchNormGrads ref = batchnorm_backward(x, dy, gamma, mean, inv_std);
      const Tensor xg = x.to(kGpu), dyg = dy.to(kGpu), gg = gamma.to(kGpu);
      const Tensor mg = mean.to(kGpu), sg = inv_std.to(kGpu);
      Tensor dx = poisoned(shape, dt), dgamma = poisoned({c}, dt), dbeta = poisoned({c}, dt);
      cuda::batchnorm_backward(xg.data_ptr(), dyg.data_ptr(), gg.data_ptr(), mg.data_ptr(),
                               sg.data_ptr(), dx.data_ptr(), dgamma.data_ptr(), dbeta.data_ptr(),
                               geometry(shape), dt, stream);
      EXPECT_TRUE(all_close(dx, ref.dx)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(dgamma, ref.dgamma)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(dbeta, ref.dbeta)) << shape_str(shape) << " " << dt;
    }
  }
}

TEST(BatchNormGpu, TwoRunsAreBitwiseEqual) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = random_tensor({16, 8, 13, 13}, DType::kFloat32, 9, -1, 1, kGpu);
  const Tensor dy = random_tensor({16, 8, 13, 13}, DType::kFloat32, 10, -1, 1, kGpu);
  const Tensor gamma = Tensor::full({8}, 1.5, DType::kFloat32, kGpu);
  const Tensor beta = Tensor::zeros({8}, DType::kFloat32, kGpu);
  Tensor m1, s1, m2, s2;
  const Tensor y1 = batchnorm_forward_training(x, gamma, beta, nullptr, nullptr, {}, &m1, &s1);
  const Tensor y2 = batchnorm_forward_training(x, gamma, beta, nullptr, nullptr, {}, &m2, &s2);
  EXPECT_TRUE(all_equal(y1, y2));
  EXPECT_TRUE(all_equal(m1, m2));
  EXPECT_TRUE(all_equal(s1, s2));
  const BatchNormGrads g1 = batchnorm_backward(x, dy, gamma, m1, s1);
  const BatchNormGrads g2 = batchnorm_backward(x, dy, gamma, m1, s1);
  EXPECT_TRUE(all_equal(g1.dx, g2.dx));
  EXPECT_TRUE(all_equal(g1.dgamma, g2.dgamma));
  EXPECT_TRUE(all_equal(g1.dbeta, g2.dbeta));
}

}  // namespace
}  // namespace cudanet::kernels
