// Tensor on a GPU: copies across devices (blocking and asynchronous), strided copies, fill.
#include <gtest/gtest.h>

#include "core/stream.h"
#include "core/tensor.h"
#include "test_util.h"

namespace cudanet {
namespace {

std::vector<float> ramp(std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  return v;
}

TEST(TensorGpu, HostDeviceRoundTripIsExact) {
  CUDANET_REQUIRE_GPU();
  for (std::int64_t n : {1, 3, 1000, 1 << 20}) {
    Tensor h = Tensor::from_vector(ramp(n), {n});
    Tensor d = h.to(Device::cuda(0));
    EXPECT_EQ(d.device(), Device::cuda(0));
    EXPECT_NE(d.data_ptr(), h.data_ptr());
    EXPECT_EQ(d.to(Device::cpu()).to_vector<float>(), h.to_vector<float>()) << n;
  }
}

TEST(TensorGpu, NonBlockingCopyThroughPinnedStagingArrives) {
  CUDANET_REQUIRE_GPU();
  Tensor h = Tensor::from_vector(ramp(4096), {64, 64});
  Tensor d = Tensor::full({64, 64}, 99.0, DType::kFloat32, Device::cuda(0));  // poisoned
  d.copy_(h, /*non_blocking=*/true);
  h.fill_(0.0);  // the staging copy was taken before copy_ returned
  EXPECT_EQ(d.to_vector<float>(), ramp(4096));
}

TEST(TensorGpu, DeviceToDeviceAndStridedCopies) {
  CUDANET_REQUIRE_GPU();
  Tensor h = Tensor::from_vector(ramp(2 * 3 * 5), {2, 3, 5});
  Tensor d = h.to(Device::cuda(0));
  EXPECT_EQ(d.clone().to_vector<float>(), h.to_vector<float>());
  // Strided source on the device: narrow an inner dimension.
  Tensor dn = d.narrow(2, 1, 3);
  EXPECT_FALSE(dn.is_contiguous());
  EXPECT_EQ(dn.to_vector<float>(), h.narrow(2, 1, 3).to_vector<float>());
  EXPECT_EQ(dn.contiguous().to_vector<float>(), h.narrow(2, 1, 3).to_vector<float>());
  // Strided destination on the device, source on the host.
  Tensor target = Tensor::full({2, 3, 5}, -7.0, DType::kFloat32, Device::cuda(0));
  Tensor hsrc = Tensor::full({2, 3, 3}, 4.0);
  target.narrow(2, 1, 3).copy_(hsrc);
  const std::vector<float> got = target.to_vector<float>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::size_t col = i % 5;
    EXPECT_EQ(got[i], (col >= 1 && col <= 3) ? 4.0f : -7.0f) << i;
  }
}

TEST(TensorGpu, FillWorksForEveryDtypeAndStridedViews) {
  CUDANET_REQUIRE_GPU();
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                  DType::kInt32, DType::kInt64, DType::kUInt8}) {
    Tensor d = Tensor::full({3, 7}, 5.0, t, Device::cuda(0));
    Tensor h = d.to(Device::cpu());
    dispatch_dtype(t, [&](auto tag) {
      using T = decltype(tag);
      for (T x : h.to_vector<T>()) EXPECT_EQ(to_double(x), 5.0) << dtype_name(t);
    });
  }
  Tensor d = Tensor::zeros({4, 6}, DType::kFloat32, Device::cuda(0));
  d.narrow(1, 2, 2).fill_(1.0);
  const std::vector<float> got = d.to_vector<float>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], (i % 6 == 2 || i % 6 == 3) ? 1.0f : 0.0f) << i;
  }
}

TEST(TensorGpu, PrintsDeviceTensor) {
  CUDANET_REQUIRE_GPU();
  Tensor d = Tensor::from_vector(std::vector<float>{1, 2}, {2}, Device::cuda(0));
  EXPECT_EQ(d.str(), "tensor([1.0000, 2.0000], shape=[2], dtype=float32, device=cuda:0)");
}

TEST(TensorGpu, WorkOnASideStreamIsOrderedByEvents) {
  CUDANET_REQUIRE_GPU();
  Stream side = cuda::new_stream(0);
  Tensor h = Tensor::from_vector(ramp(1 << 16), {1 << 16});
  Tensor d;
  Event done(Device::cuda(0));
  {
    cuda::StreamGuard guard(side);
    EXPECT_EQ(cuda::current_stream(0), side);
    d = h.to(Device::cuda(0), /*non_blocking=*/true);
    d.storage().record_stream(cuda::current_stream(0));
    done.record(side);
  }
  EXPECT_EQ(cuda::current_stream(0), cuda::default_stream(0));
  cuda::current_stream(0).wait(done);
  EXPECT_EQ(d.to_vector<float>(), ramp(1 << 16));
}

TEST(StreamGpu, EventsTimeAndSynchronise) {
  CUDANET_REQUIRE_GPU();
  Stream s = cuda::new_stream(0);
  Event start(Device::cuda(0), /*timing=*/true);
  Event stop(Device::cuda(0), /*timing=*/true);
  start.record(s);
  Tensor big;
  {
    cuda::StreamGuard guard(s);
    big = Tensor::zeros({1 << 24}, DType::kFloat32, Device::cuda(0));
  }
  stop.record(s);
  stop.synchronize();
  EXPECT_TRUE(stop.query());
  EXPECT_TRUE(s.query());
  EXPECT_GE(start.elapsed_ms(stop), 0.0f);
  EXPECT_THROW(stop.record(Stream()), ValueError);  // CPU stream for a CUDA event
  Event moved = std::move(start);
  EXPECT_TRUE(moved.valid());
  EXPECT_FALSE(start.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
}

TEST(StreamGpu, CopyStreamIsDistinctAndStable) {
  CUDANET_REQUIRE_GPU();
  Stream c = cuda::copy_stream(0);
  EXPECT_EQ(c, cuda::copy_stream(0));
  EXPECT_NE(c, cuda::default_stream(0));
  EXPECT_TRUE(cuda::properties(0).total_memory > 0);
}

}  // namespace
}  // namespace cudanet
