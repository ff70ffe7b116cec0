// conv2d on the GPU: both algorithms (implicit GEMM, im2col + GEMM) against the CPU reference on
// odd geometries, with poisoned outputs and workspaces; exact equality on small integers;
// bitwise-reproducible gradient reductions.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/stream.h"
#include "kernels/common.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::poisoned;

using testing::all_close;
using testing::all_equal;

struct GpuCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

Conv2dParams params(std::int64_t stride, std::int64_t pad, std::int64_t dilation = 1,
                    std::int64_t groups = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

std::vector<GpuCase> gpu_cases() {
  Conv2dParams asym = params(1, 0, 1, 2);
  asym.stride_h = 3, asym.pad_h = 2, asym.dilation_w = 3;
  return {
      {"alexnet_conv1_batch1", {1, 3, 227, 227}, {96, 3, 11, 11}, params(4, 0)},
      {"channels3_spatial13", {2, 3, 13, 13}, {5, 3, 3, 3}, params(1, 1)},
      {"groups2_dilation2_batch1", {1, 6, 13, 13}, {4, 3, 3, 3}, params(1, 2, 2, 2)},
      {"alexnet_conv2_groups2_reduced", {2, 96, 13, 13}, {256, 48, 5, 5}, params(1, 2, 1, 2)},
      {"stride2_asymmetric_groups2", {3, 4, 9, 12}, {6, 2, 2, 4}, asym},
      {"pointwise_70_to_67", {2, 70, 5, 5}, {67, 70, 1, 1}, params(1, 0)},
      // Shapes that select the 128x128 tiles of forward, backward-data and backward-filter.
      {"large_tile_forward", {8, 4, 64, 64}, {96, 4, 3, 3}, params(1, 1)},
      {"large_tile_backward_data", {8, 96, 64, 64}, {4, 96, 1, 1}, params(1, 0)},
      {"large_tile_backward_filter", {2, 16, 20, 20}, {96, 16, 3, 3}, params(1, 1)},
      // 7 images of 64*9*100*100 im2col elements: im2col runs in chunks of 5 and 2 images.
      {"im2col_two_chunks", {7, 64, 100, 100}, {2, 64, 3, 3}, params(1, 1)},
  };
}

// The cases that take a minute each on the cudaemu CPU emulator.
bool slow_on_emulator(const GpuCase& c) {
  const std::string name = c.name;
  return name == "alexnet_conv1_batch1" || name == "im2col_two_chunks";
}

std::string case_name(const ::testing::TestParamInfo<GpuCase>& param_info) {
  return param_info.param.name;
}

#if CUDANET_WITH_CUDA
// Tolerances scale with the largest reference value and, for float32, with the square root of
// the length of the sums: the GPU adds the same products in another order.
testing::Tolerance tolerance(const Tensor& ref, std::int64_t sum_length) {
  const std::vector<double> v = testing::as_doubles(ref);
  double peak = 0;
  for (double x : v) peak = std::max(peak, std::fabs(x));
  if (ref.dtype() == DType::kFloat64) return {std::max(1e-10, 1e-12 * peak), 1e-9, 1e-11};
  const double growth = std::sqrt(static_cast<double>(sum_length));
  return {std::max(1e-5, 2e-7 * growth * peak), 1e-4, std::max(1e-5, 1e-7 * growth)};
}

// The results of one algorithm, computed through the raw launchers into poisoned buffers.
struct Results {
  Tensor y, dx, dw;
};

Results run_raw(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                const Conv2dGeometry& g, ConvAlgo algo) {
  const DType dt = x.dtype();
  const Stream stream = current_stream(Device::cuda());
  Results r{poisoned(g.y_shape(), dt), poisoned(g.x_shape(), dt), poisoned(g.w_shape(), dt)};
  if (algo == ConvAlgo::kIm2col) {
    Tensor ws = poisoned({cuda::conv2d_im2col_workspace(g)}, dt);
    cuda::conv2d_forward_im2col(x.data_ptr(), w.data_ptr(), b.data_ptr(), r.y.data_ptr(),
                                ws.data_ptr(), g, dt, stream);
    cuda::conv2d_backward_data_im2col(dy.data_ptr(), w.data_ptr(), r.dx.data_ptr(), ws.data_ptr(),
                                      g, dt, stream);
    cuda::conv2d_backward_filter_im2col(dy.data_ptr(), x.data_ptr(), r.dw.data_ptr(), ws.data_ptr(),
                                        g, dt, stream);
  } else {
    const std::int64_t n = cuda::conv2d_backward_filter_implicit_gemm_workspace(g, dt);
    Tensor ws = poisoned({std::max<std::int64_t>(n, 1)}, dt);
    cuda::conv2d_forward_implicit_gemm(x.data_ptr(), w.data_ptr(), b.data_ptr(), r.y.data_ptr(), g,
                                       dt, stream);
    cuda::conv2d_backward_data_implicit_gemm(dy.data_ptr(), w.data_ptr(), r.dx.data_ptr(), g, dt,
                                             stream);
    cuda::conv2d_backward_filter_implicit_gemm(dy.data_ptr(), x.data_ptr(), r.dw.data_ptr(),
                                               ws.data_ptr(), g, dt, stream);
  }
  return r;
}
#endif

class Conv2dGpu : public ::testing::TestWithParam<GpuCase> {};

TEST_P(Conv2dGpu, BothAlgorithmsMatchTheCpuReference) {
  CUDANET_REQUIRE_GPU();
#if CUDANET_WITH_CUDA
  const GpuCase& c = GetParam();
  if (slow_on_emulator(c)) CUDANET_SKIP_SLOW_ON_EMULATOR();
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const std::int64_t crs = c.w[1] * g.r * g.s, krs = g.k_per_group() * g.r * g.s;
  const std::int64_t npq = g.n * g.p * g.q;
  for (DType dt : {DType::kFloat32, DType::kFloat64}) {
    const Tensor x = testing::random_tensor(c.x, dt, 1);
    const Tensor w = testing::random_tensor(c.w, dt, 2);
    const Tensor b = testing::random_tensor({g.k}, dt, 3);
    const Tensor dy = testing::random_tensor(g.y_shape(), dt, 4);
    const Tensor y_ref = conv2d_forward(x, w, &b, c.p, ConvAlgo::kReference);
    const Tensor dx_ref = conv2d_backward_data(dy, w, c.x, c.p, ConvAlgo::kReference);
    const Tensor dw_ref = conv2d_backward_filter(dy, x, c.w, c.p, ConvAlgo::kReference);
    const Tensor db_ref = conv2d_backward_bias(dy);
    const Device gpu = Device::cuda();
    const Tensor xg = x.to(gpu), wg = w.to(gpu), bg = b.to(gpu), dyg = dy.to(gpu);
    for (ConvAlgo algo : {ConvAlgo::kImplicitGemm, ConvAlgo::kIm2col}) {
      SCOPED_TRACE(std::string(conv_algo_name(algo)) + " " + dtype_name(dt));
      const Results r = run_raw(xg, wg, bg, dyg, g, algo);
      EXPECT_TRUE(all_close(r.y, y_ref, tolerance(y_ref, crs))) << "forward";
      EXPECT_TRUE(all_close(r.dx, dx_ref, tolerance(dx_ref, krs))) << "backward-data";
      EXPECT_TRUE(all_close(r.dw, dw_ref, tolerance(dw_ref, npq))) << "backward-filter";
      // The Tensor-level entry points run the same launchers.
      EXPECT_TRUE(all_equal(conv2d_forward(xg, wg, &bg, c.p, algo), r.y));
      EXPECT_TRUE(all_equal(conv2d_backward_data(dyg, wg, c.x, c.p, algo), r.dx));
      EXPECT_TRUE(all_equal(conv2d_backward_filter(dyg, xg, c.w, c.p, algo), r.dw));
    }
    Tensor db = poisoned({g.k}, dt);
    cuda::conv2d_backward_bias(dyg.data_ptr(), db.data_ptr(), g.n, g.k, g.p * g.q, dt,
                               current_stream(gpu));
    EXPECT_TRUE(all_close(db, db_ref, tolerance(db_ref, npq))) << "bias " << dtype_name(dt);
  }
#endif
}

TEST_P(Conv2dGpu, SmallIntegersGiveExactResults) {
  CUDANET_REQUIRE_GPU();
#if CUDANET_WITH_CUDA
  const GpuCase& c = GetParam();
  if (slow_on_emulator(c)) CUDANET_SKIP_SLOW_ON_EMULATOR();
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const DType dt = DType::kFloat32;
  const Tensor x = testing::small_int_tensor(c.x, dt, 5);
  const Tensor w = testing::small_int_tensor(c.w, dt, 6);
  const Tensor b = testing::small_int_tensor({g.k}, dt, 7);
  const Tensor dy = testing::small_int_tensor(g.y_shape(), dt, 8);
  const Device gpu = Device::cuda();
  for (ConvAlgo algo : {ConvAlgo::kImplicitGemm, ConvAlgo::kIm2col}) {
    SCOPED_TRACE(conv_algo_name(algo));
    const Results r = run_raw(x.to(gpu), w.to(gpu), b.to(gpu), dy.to(gpu), g, algo);
    EXPECT_TRUE(all_equal(r.y, conv2d_forward(x, w, &b, c.p, ConvAlgo::kReference))) << "forward";
    EXPECT_TRUE(all_equal(r.dx, conv2d_backward_data(dy, w, c.x, c.p, ConvAlgo::kReference)))
        << "backward-data";
    EXPECT_TRUE(all_equal(r.dw, conv2d_backward_filter(dy, x, c.w, c.p, ConvAlgo::kReference)))
        << "backward-filter";
  }
  EXPECT_TRUE(all_equal(conv2d_backward_bias(dy.to(gpu)), conv2d_backward_bias(dy)));
#endif
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2dGpu, ::testing::ValuesIn(gpu_cases()), case_name);

TEST(Conv2dGpuDeterminism, GradientReductionsAreBitwiseReproducible) {
  CUDANET_REQUIRE_GPU();
  const bool was = deterministic();
  set_deterministic(true);
  const Device gpu = Device::cuda();
  const Conv2dParams p = params(4, 0);
  const Tensor x = testing::random_tensor({2, 3, 227, 227}, DType::kFloat32, 9, -1, 1, gpu);
  const Tensor dy = testing::random_tensor({2, 96, 55, 55}, DType::kFloat32, 10, -1, 1, gpu);
  for (ConvAlgo algo : {ConvAlgo::kImplicitGemm, ConvAlgo::kIm2col}) {
    const Tensor a = conv2d_backward_filter(dy, x, {96, 3, 11, 11}, p, algo);
    const Tensor b = conv2d_backward_filter(dy, x, {96, 3, 11, 11}, p, algo);
    EXPECT_TRUE(all_equal(a, b)) << conv_algo_name(algo);
  }
  EXPECT_TRUE(all_equal(conv2d_backward_bias(dy), conv2d_backward_bias(dy)));
  set_deterministic(was);
}

TEST(Conv2dGpuStreams, RunsOnTheCurrentStream) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({2, 3, 13, 13}, DType::kFloat32, 11);
  const Tensor w = testing::random_tensor({4, 3, 3, 3}, DType::kFloat32, 12);
  const Tensor ref = conv2d_forward(x, w, nullptr, params(2, 1), ConvAlgo::kReference);
  const Stream side = cudanet::cuda::new_stream(0);
  Tensor y;
  {
    cudanet::cuda::StreamGuard guard(side);
    y = conv2d_forward(x.to(Device::cuda()), w.to(Device::cuda()), nullptr, params(2, 1));
    side.synchronize();
  }
  EXPECT_TRUE(all_close(y, ref));
}

TEST(Conv2dGpuArguments, MixedDevicesThrowValueError) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = Tensor::zeros({1, 2, 5, 5}, DType::kFloat32, Device::cuda());
  const Tensor w = Tensor::zeros({2, 2, 3, 3});
  EXPECT_THROW(conv2d_forward(x, w, nullptr, {}), ValueError);
  const Tensor dy = Tensor::zeros({1, 2, 3, 3});
  EXPECT_THROW(conv2d_backward_filter(dy, x, w.shape(), {}), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
