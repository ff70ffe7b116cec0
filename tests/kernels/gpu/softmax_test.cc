// Softmax family on the GPU against the CPU reference: odd shapes (C = 1, 3, 1000, wide rows on
// the block-per-row path), batch 1, poisoned outputs, extreme logits, bitwise-reproducible loss.
#include "kernels/softmax.h"

#include <cmath>
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

Tensor random_labels(std::int64_t n, std::int64_t classes, std::uint64_t seed) {
  const std::vector<double> u =
      testing::as_doubles(random_tensor({n}, DType::kFloat64, seed, 0, 1));
  std::vector<std::int64_t> l(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) l[i] = static_cast<std::int64_t>(u[i] * classes);
  return Tensor::from_vector(l, {n});
}

const std::vector<Shape> kShapes{{1, 1},    {1, 3},    {7, 3},   {128, 10},
                                 {5, 1000}, {33, 513}, {3, 2049}};

TEST(SoftmaxGpu, ForwardAndBackwardMatchCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      const Tensor x = random_tensor(shape, dt, 1, -6, 6);
      const Tensor dy = random_tensor(shape, dt, 2);
      for (const bool log : {false, true}) {
        const Tensor y_ref = log ? log_softmax_forward(x) : softmax_forward(x);
        const Tensor dx_ref = log ? log_softmax_backward(y_ref, dy) : softmax_backward(y_ref, dy);
        const Tensor xg = x.to(kGpu), yg_in = y_ref.to(kGpu), dyg = dy.to(kGpu);
        Tensor y = poisoned(shape, dt), dx = poisoned(shape, dt);
        cuda::softmax_forward(xg.data_ptr(), y.data_ptr(), shape[0], shape[1], log, dt, stream);
        cuda::softmax_backward(yg_in.data_ptr(), dyg.data_ptr(), dx.data_ptr(), shape[0], shape[1],
                               log, dt, stream);
        EXPECT_TRUE(all_close(y, y_ref)) << shape_str(shape) << " log " << log << " " << dt;
        EXPECT_TRUE(all_close(dx, dx_ref)) << shape_str(shape) << " log " << log << " " << dt;
      }
      // The Tensor-level entry points dispatch to the same kernels.
      EXPECT_TRUE(all_close(softmax_forward(x.to(kGpu)), softmax_forward(x)));
    }
  }
}

TEST(SoftmaxGpu, CrossEntropyMatchesCpu) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const Shape& shape : kShapes) {
      const Tensor x = random_tensor(shape, dt, 3, -8, 8);
      const Tensor labels = random_labels(shape[0], shape[1], 4);
      Tensor probs_ref;
      const Tensor loss_ref = softmax_cross_entropy_forward(x, labels, &probs_ref);
      const Tensor dx_ref = softmax_cross_entropy_backward(probs_ref, labels, 0.5);
      const Tensor xg = x.to(kGpu), lg = labels.to(kGpu), pg_in = probs_ref.to(kGpu);
      Tensor probs = poisoned(shape, dt), loss = poisoned({}, dt), dx = poisoned(shape, dt);
      cuda::softmax_cross_entropy_forward(xg.data_ptr(), lg.data<std::int64_t>(), probs.data_ptr(),
                                          loss.data_ptr(), shape[0], shape[1], dt, stream);
      cuda::softmax_cross_entropy_backward(pg_in.data_ptr(), lg.data<std::int64_t>(), dx.data_ptr(),
                                           shape[0], shape[1], 0.5, dt, stream);
      EXPECT_TRUE(all_close(loss, loss_ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(probs, probs_ref)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_close(dx, dx_ref)) << shape_str(shape) << " " << dt;
      // Without probabilities, and through the Tensor-level API (from the logits too).
      Tensor loss2 = poisoned({}, dt);
      cuda::softmax_cross_entropy_forward(xg.data_ptr(), lg.data<std::int64_t>(), nullptr,
                                          loss2.data_ptr(), shape[0], shape[1], dt, stream);
      EXPECT_TRUE(all_equal(loss2, loss));
      EXPECT_TRUE(all_close(softmax_cross_entropy_backward(xg, lg, 0.5, true), dx_ref));
    }
  }
}

TEST(SoftmaxGpu, ExtremeLogitsAndEqualRows) {
  CUDANET_REQUIRE_GPU();
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    for (const std::int64_t cols : {3, 1000}) {
      std::vector<double> v(static_cast<std::size_t>(4 * cols));
      for (std::int64_t c = 0; c < cols; ++c) {
        v[c] = c % 2 ? 1e4 : -1e4;  // alternating +-1e4
        v[cols + c] = 1e4;          // all equal, huge
        v[2 * cols + c] = -1e4;     // all equal, tiny
        v[3 * cols + c] = c == cols - 1 ? 1e4 : -1e4;
      }
      Tensor x = Tensor::from_vector(v, {4, cols});
      if (dt == DType::kFloat32) {
        x = Tensor::from_vector(std::vector<float>(v.begin(), v.end()), {4, cols});
      }
      const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 0}, {4});
      EXPECT_TRUE(all_close(softmax_forward(x.to(kGpu)), softmax_forward(x)));
      EXPECT_TRUE(all_close(log_softmax_forward(x.to(kGpu)), log_softmax_forward(x)));
      const Tensor loss = softmax_cross_entropy_forward(x.to(kGpu), labels.to(kGpu));
      EXPECT_TRUE(all_close(loss, softmax_cross_entropy_forward(x, labels)));
    }
  }
}

TEST(SoftmaxGpu, LossIsBitwiseReproducibleAndLabelsAreChecked) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = random_tensor({1000, 37}, DType::kFloat32, 5, -4, 4, kGpu);
  const Tensor labels = random_labels(1000, 37, 6).to(kGpu);
  const Tensor a = softmax_cross_entropy_forward(x, labels);
  const Tensor b = softmax_cross_entropy_forward(x, labels);
  EXPECT_TRUE(all_equal(a, b));
  const Tensor bad = Tensor::from_vector(std::vector<std::int64_t>{0, 37}, {2}).to(kGpu);
  EXPECT_THROW(softmax_cross_entropy_forward(x.narrow(0, 0, 2), bad), ValueError);
}

// The launcher itself (reached unchecked by a replayed CUDA graph): a label outside [0, C) makes
// the loss NaN and reads nothing outside the row (compute-sanitizer would see that).
TEST(SoftmaxGpu, OutOfRangeLabelGivesNanLossInTheKernel) {
  CUDANET_REQUIRE_GPU();
  const Stream stream = current_stream(kGpu);
  for (const std::int64_t cols : {5, 1000}) {  // warp-per-row and block-per-row kernels
    const Tensor x = random_tensor({3, cols}, DType::kFloat32, 7, -2, 2, kGpu);
    for (const std::int64_t bad : {cols, std::int64_t{-1}, std::int64_t{1} << 40}) {
      const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, bad, 1}, {3}).to(kGpu);
      Tensor loss = poisoned({}, DType::kFloat32);
      cuda::softmax_cross_entropy_forward(x.data_ptr(), labels.data<std::int64_t>(), nullptr,
                                          loss.data_ptr(), 3, cols, DType::kFloat32, stream);
      EXPECT_TRUE(std::isnan(loss.item())) << "label " << bad << ", " << cols << " classes";
    }
  }
}

}  // namespace
}  // namespace cudanet::kernels
