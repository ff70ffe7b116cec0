// The cuDNN backend (kernels/cudnn.h) against the CPU reference, forward and backward: convolution
// with groups, stride, padding and dilation (heuristic, benchmark and deterministic algorithm
// choice, float32 strict FP32 and float64), pooling, activations, LRN, softmax and batch norm;
// the handle and algorithm caches. Outputs come from the caching allocator: each op runs right
// after a poisoned block of its output's size was freed, so an unwritten element shows as NaN.
#include "kernels/cudnn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "core/config.h"
#include "core/stream.h"
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

#if CUDANET_WITH_CUDNN
#define REQUIRE_CUDNN() CUDANET_REQUIRE_GPU()
#else
#define REQUIRE_CUDNN() GTEST_SKIP() << "this build has no cuDNN (CUDANET_WITH_CUDNN=0)"
#endif

const Device kGpu = Device::cuda(0);

Tensor cpu(const Tensor& t) {
  return t.to(Device::cpu());
}
Tensor gpu(const Tensor& t) {
  return t.to(kGpu);
}
// Frees a NaN-filled block of `shape` into the allocator's cache, so the next output of that size
// reuses it.
void prime(const Shape& shape, DType dtype) {
  Tensor t = testing::poisoned(shape, dtype, kGpu);
}

// float32: sums of `length` products in another order than the reference's, and possibly by a
// transform (FFT, Winograd: cuDNN may choose them in strict FP32), whose rounding error scales
// with the tensor's largest value rather than with each element. A wrong index or a missing term
// is still far outside these bounds.
testing::Tolerance tol(const Tensor& ref, std::int64_t length) {
  const std::vector<double> v = testing::as_doubles(ref);
  double peak = 0;
  for (double x : v) peak = std::max(peak, std::fabs(x));
  if (ref.dtype() == DType::kFloat64) return {std::max(1e-10, 1e-12 * peak), 1e-9, 1e-10};
  const double growth = std::sqrt(static_cast<double>(length));
  return {std::max(1e-5, 2e-6 * growth * peak), 1e-3, std::max(1e-4, 2e-7 * growth)};
}

Conv2dParams conv_params(std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                         std::int64_t groups) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
};

std::vector<ConvCase> conv_cases() {
  Conv2dParams asym = conv_params(1, 0, 1, 2);
  asym.stride_h = 3, asym.pad_h = 2, asym.dilation_w = 3;
  return {
      {{2, 3, 13, 13}, {5, 3, 3, 3}, conv_params(1, 1, 1, 1)},
      {{1, 3, 35, 35}, {8, 3, 11, 11}, conv_params(4, 0, 1, 1)},   // AlexNet conv1, reduced
      {{1, 6, 13, 13}, {4, 3, 3, 3}, conv_params(1, 2, 2, 2)},     // groups 2, dilation 2
      {{3, 4, 9, 12}, {6, 2, 2, 4}, asym},                         // asymmetric
      {{2, 16, 7, 7}, {16, 1, 3, 3}, conv_params(1, 1, 1, 16)},    // depthwise
      {{2, 96, 13, 13}, {64, 48, 5, 5}, conv_params(1, 2, 1, 2)},  // AlexNet conv2 style
  };
}

// Every pass of every case against the CPU reference, in `dtype`, under the current settings.
void check_conv_cases(DType dtype) {
  std::uint64_t seed = 100;
  for (const ConvCase& c : conv_cases()) {
    SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
    const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
    const Tensor x = testing::random_tensor(c.x, dtype, ++seed);
    const Tensor w = testing::random_tensor(c.w, dtype, ++seed);
    const Tensor b = testing::random_tensor({g.k}, dtype, ++seed);
    const Tensor dy = testing::random_tensor(g.y_shape(), dtype, ++seed);
    const Tensor y_ref = conv2d_forward(x, w, &b, c.p, ConvAlgo::kReference);
    const Tensor dx_ref = conv2d_backward_data(dy, w, c.x, c.p, ConvAlgo::kReference);
    const Tensor dw_ref = conv2d_backward_filter(dy, x, c.w, c.p, ConvAlgo::kReference);
    const Tensor db_ref = conv2d_backward_bias(dy);
    const Tensor gx = gpu(x), gw = gpu(w), gb = gpu(b), gdy = gpu(dy);
    const std::int64_t crs = g.c_per_group() * g.r * g.s;
    prime(g.y_shape(), dtype);
    EXPECT_TRUE(
        testing::all_close(cpu(cudnn::conv2d_forward(gx, gw, &gb, c.p)), y_ref, tol(y_ref, crs)));
    prime(c.x, dtype);
    EXPECT_TRUE(testing::all_close(cpu(cudnn::conv2d_backward_data(gdy, gw, c.x, c.p)), dx_ref,
                                   tol(dx_ref, g.k_per_group() * g.r * g.s)));
    prime(c.w, dtype);
    EXPECT_TRUE(testing::all_close(cpu(cudnn::conv2d_backward_filter(gdy, gx, c.w, c.p)), dw_ref,
                                   tol(dw_ref, g.n * g.p * g.q)));
    prime({g.k}, dtype);
    EXPECT_TRUE(testing::all_close(cpu(cudnn::conv2d_backward_bias(gdy)), db_ref,
                                   tol(db_ref, g.n * g.p * g.q)));
  }
}

// Restores the process-wide settings a test changes.
struct SettingsGuard {
  bool tf32 = allow_tf32(), det = deterministic(), bench = cudnn::benchmark();
  ~SettingsGuard() {
    set_allow_tf32(tf32);
    set_deterministic(det);
    cudnn::set_benchmark(bench);
  }
};

TEST(CudnnConv, HeuristicChoiceMatchesCpuReferenceFloat32) {
  REQUIRE_CUDNN();
  SettingsGuard s;
  set_allow_tf32(false);
  cudnn::set_benchmark(false);
  check_conv_cases(DType::kFloat32);
}

TEST(CudnnConv, BenchmarkModeMatchesCpuReferenceFloat32) {
  REQUIRE_CUDNN();
  SettingsGuard s;
  set_allow_tf32(false);
  cudnn::set_benchmark(true);
  check_conv_cases(DType::kFloat32);
}

TEST(CudnnConv, DeterministicModeMatchesAndRepeatsBitwise) {
  REQUIRE_CUDNN();
  SettingsGuard s;
  set_allow_tf32(false);
  set_deterministic(true);
  check_conv_cases(DType::kFloat32);
  const ConvCase c = conv_cases()[5];
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const Tensor x = gpu(testing::random_tensor(c.x, DType::kFloat32, 7));
  const Tensor dy = gpu(testing::random_tensor(g.y_shape(), DType::kFloat32, 8));
  const Tensor w = gpu(testing::random_tensor(c.w, DType::kFloat32, 9));
  EXPECT_TRUE(testing::all_equal(cpu(cudnn::conv2d_backward_filter(dy, x, c.w, c.p)),
                                 cpu(cudnn::conv2d_backward_filter(dy, x, c.w, c.p))));
  EXPECT_TRUE(testing::all_equal(cpu(cudnn::conv2d_backward_data(dy, w, c.x, c.p)),
                                 cpu(cudnn::conv2d_backward_data(dy, w, c.x, c.p))));
}

TEST(CudnnConv, Float64MatchesCpuReference) {
  REQUIRE_CUDNN();
  check_conv_cases(DType::kFloat64);
}

TEST(CudnnConv, StrictFp32ChoosesNoTensorCoresAndCachesPerSetting) {
  REQUIRE_CUDNN();
  SettingsGuard s;
  set_allow_tf32(false);
  cudnn::set_benchmark(false);
  cudnn::clear_algorithm_cache();
  const ConvCase c = conv_cases()[5];
  const Conv2dGeometry g = conv2d_geometry(c.x, c.w, c.p, "test");
  const Tensor x = gpu(testing::random_tensor(c.x, DType::kFloat32, 1));
  const Tensor w = gpu(testing::random_tensor(c.w, DType::kFloat32, 2));
  EXPECT_EQ(cudnn::chosen_algorithm("fwd", g), "");
  cudnn::conv2d_forward(x, w, nullptr, c.p);
  const std::string chosen = cudnn::chosen_algorithm("fwd", g);
  EXPECT_NE(chosen, "");
  EXPECT_EQ(chosen.find("TENSOR_OP"), std::string::npos) << chosen;
  EXPECT_EQ(cudnn::algorithm_cache_size(), 1u);
  cudnn::conv2d_forward(x, w, nullptr, c.p);  // cached: no new entry
  EXPECT_EQ(cudnn::algorithm_cache_size(), 1u);
  set_allow_tf32(true);  // another setting is another key
  cudnn::conv2d_forward(x, w, nullptr, c.p);
  EXPECT_EQ(cudnn::algorithm_cache_size(), 2u);
  EXPECT_THROW(cudnn::chosen_algorithm("sideways", g), ValueError);
}

TEST(CudnnConv, HandlesAreCreatedOncePerStream) {
  REQUIRE_CUDNN();
  const ConvCase c = conv_cases()[0];
  const Tensor x = gpu(testing::random_tensor(c.x, DType::kFloat32, 1));
  const Tensor w = gpu(testing::random_tensor(c.w, DType::kFloat32, 2));
  cudnn::conv2d_forward(x, w, nullptr, c.p);
  const std::size_t before = cudnn::handle_count();
  EXPECT_GE(before, 1u);
  for (int i = 0; i < 3; ++i) cudnn::conv2d_forward(x, w, nullptr, c.p);
  cudnn::activation_forward(Activation::kReLU, x);
  EXPECT_EQ(cudnn::handle_count(), before);
  current_stream(kGpu).synchronize();  // x and w are ready for the other stream
  const Stream other = ::cudanet::cuda::new_stream(0);
  {
    ::cudanet::cuda::StreamGuard guard(other);
    cudnn::conv2d_forward(x, w, nullptr, c.p);
    other.synchronize();
  }
  EXPECT_EQ(cudnn::handle_count(), before + 1);
}

TEST(CudnnConv, RejectsCpuTensorsAndBadShapes) {
  REQUIRE_CUDNN();
  const Tensor x = testing::random_tensor({1, 3, 8, 8}, DType::kFloat32, 1);
  const Tensor w = testing::random_tensor({4, 3, 3, 3}, DType::kFloat32, 2);
  EXPECT_THROW(cudnn::conv2d_forward(x, w, nullptr, {}), ValueError);
  EXPECT_THROW(
      cudnn::conv2d_forward(gpu(x), gpu(testing::random_tensor({4, 2, 3, 3}, DType::kFloat32, 3)),
                            nullptr, {}),
      ShapeError);
}

TEST(CudnnPool, MaxAndAverageMatchCpuForwardAndBackward) {
  REQUIRE_CUDNN();
  struct Case {
    Shape x;
    Pool2dParams p;
  };
  const std::vector<Case> cases = {{{2, 3, 13, 13}, Pool2dParams::square(3, 2, 1)},
                                   {{1, 5, 27, 27}, Pool2dParams::square(3, 2)},
                                   {{3, 2, 8, 9}, Pool2dParams::square(2)}};
  std::uint64_t seed = 40;
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.x));
    const Tensor x = testing::random_tensor(c.x, DType::kFloat32, ++seed);
    Tensor argmax;
    const Tensor y_max = max_pool2d_forward(x, c.p, &argmax);
    const Tensor y_avg = avg_pool2d_forward(x, c.p);
    const Tensor dy = testing::random_tensor(y_max.shape(), DType::kFloat32, ++seed);
    const Tensor gx = gpu(x);
    prime(y_max.shape(), DType::kFloat32);
    const Tensor gy_max = cudnn::pool2d_forward(cudnn::PoolKind::kMax, gx, c.p);
    EXPECT_TRUE(testing::all_equal(cpu(gy_max), y_max));
    prime(c.x, DType::kFloat32);
    EXPECT_TRUE(testing::all_close(
        cpu(cudnn::pool2d_backward(cudnn::PoolKind::kMax, gpu(dy), gx, gy_max, c.p)),
        max_pool2d_backward(dy, argmax, c.x, c.p)));
    const Tensor gy_avg = cudnn::pool2d_forward(cudnn::PoolKind::kAvg, gx, c.p);
    EXPECT_TRUE(testing::all_close(cpu(gy_avg), y_avg));
    EXPECT_TRUE(testing::all_close(
        cpu(cudnn::pool2d_backward(cudnn::PoolKind::kAvg, gpu(dy), gx, gy_avg, c.p)),
        avg_pool2d_backward(dy, c.x, c.p)));
  }
}

TEST(CudnnActivation, ReluSigmoidTanhMatchCpu) {
  REQUIRE_CUDNN();
  EXPECT_FALSE(cudnn::supports(Activation::kLeakyReLU));
  for (Activation kind : {Activation::kReLU, Activation::kSigmoid, Activation::kTanh}) {
    SCOPED_TRACE(activation_name(kind));
    ASSERT_TRUE(cudnn::supports(kind));
    const Tensor x = testing::random_tensor({3, 5, 7, 11}, DType::kFloat32, 5, -3.0, 3.0);
    const Tensor dy = testing::random_tensor(x.shape(), DType::kFloat32, 6);
    const Tensor y = activation_forward(kind, x);
    const bool from_output = kind != Activation::kReLU;
    const Tensor dx = activation_backward(kind, dy, from_output ? y : x);
    const Tensor gx = gpu(x);
    prime(x.shape(), DType::kFloat32);
    const Tensor gy = cudnn::activation_forward(kind, gx);
    EXPECT_TRUE(testing::all_close(cpu(gy), y, {2e-6, 2e-5, 1e-5}));
    prime(x.shape(), DType::kFloat32);
    EXPECT_TRUE(testing::all_close(cpu(cudnn::activation_backward(kind, gpu(dy), gx, gy)), dx,
                                   {2e-6, 2e-5, 1e-5}));
  }
  EXPECT_THROW(cudnn::activation_forward(Activation::kLeakyReLU,
                                         gpu(testing::random_tensor({4}, DType::kFloat32, 1))),
               ValueError);
}

TEST(CudnnLrn, MatchesCpuForOddSizes) {
  REQUIRE_CUDNN();
  LrnParams even;
  even.size = 4;
  EXPECT_FALSE(cudnn::supports(even));
  for (std::int64_t size : {5, 3}) {
    LrnParams p;
    p.size = size;
    p.alpha = 1e-2;  // large enough for the normalisation to matter
    p.k = size == 5 ? 2.0 : 1.0;
    const Tensor x = testing::random_tensor({2, 7, 5, 6}, DType::kFloat32, 11, -3.0, 3.0);
    const Tensor dy = testing::random_tensor(x.shape(), DType::kFloat32, 12);
    Tensor scale;
    const Tensor y = lrn_forward(x, p, &scale);
    const Tensor dx = lrn_backward(dy, x, y, scale, p);
    const Tensor gx = gpu(x);
    prime(x.shape(), DType::kFloat32);
    const Tensor gy = cudnn::lrn_forward(gx, p);
    EXPECT_TRUE(testing::all_close(cpu(gy), y, {1e-5, 1e-4, 1e-5}));
    prime(x.shape(), DType::kFloat32);
    EXPECT_TRUE(
        testing::all_close(cpu(cudnn::lrn_backward(gpu(dy), gx, gy, p)), dx, {1e-5, 1e-4, 1e-5}));
  }
}

TEST(CudnnSoftmax, MatchesCpuForwardAndBackward) {
  REQUIRE_CUDNN();
  for (const Shape& s : {Shape{5, 10}, Shape{3, 1000}, Shape{1, 7}}) {
    const Tensor x = testing::random_tensor(s, DType::kFloat32, 21, -8.0, 8.0);
    const Tensor dy = testing::random_tensor(s, DType::kFloat32, 22);
    const Tensor y = softmax_forward(x);
    prime(s, DType::kFloat32);
    const Tensor gy = cudnn::softmax_forward(gpu(x));
    EXPECT_TRUE(testing::all_close(cpu(gy), y, {1e-6, 1e-5, 1e-5}));
    prime(s, DType::kFloat32);
    EXPECT_TRUE(testing::all_close(cpu(cudnn::softmax_backward(gy, gpu(dy))),
                                   softmax_backward(y, dy), {1e-6, 1e-4, 1e-5}));
  }
}

TEST(CudnnBatchNorm, TrainingInferenceAndBackwardMatchCpu) {
  REQUIRE_CUDNN();
  BatchNormParams p;
  p.momentum = 0.2;
  for (const Shape& s : {Shape{4, 3, 5, 7}, Shape{6, 5}}) {
    SCOPED_TRACE(shape_str(s));
    const std::int64_t c = s[1];
    const Tensor x = testing::random_tensor(s, DType::kFloat32, 31, -2.0, 3.0);
    const Tensor dy = testing::random_tensor(s, DType::kFloat32, 32);
    const Tensor gamma = testing::random_tensor({c}, DType::kFloat32, 33, 0.5, 1.5);
    const Tensor beta = testing::random_tensor({c}, DType::kFloat32, 34);
    Tensor rm = testing::random_tensor({c}, DType::kFloat32, 35);
    Tensor rv = testing::random_tensor({c}, DType::kFloat32, 36, 0.5, 2.0);
    Tensor grm = gpu(rm), grv = gpu(rv);
    Tensor mean, inv_std, gmean, ginv_std;
    const Tensor y = batchnorm_forward_training(x, gamma, beta, &rm, &rv, p, &mean, &inv_std);
    const Tensor gx = gpu(x), ggamma = gpu(gamma);
    const Tensor gy =
        cudnn::batchnorm_forward_training(gx, ggamma, gpu(beta), &grm, &grv, p, &gmean, &ginv_std);
    const testing::Tolerance t{1e-5, 1e-4, 1e-5};
    EXPECT_TRUE(testing::all_close(cpu(gy), y, t));
    EXPECT_TRUE(testing::all_close(cpu(grm), rm, t));
    EXPECT_TRUE(testing::all_close(cpu(grv), rv, t));
    EXPECT_TRUE(testing::all_close(cpu(gmean), mean, t));
    EXPECT_TRUE(testing::all_close(cpu(ginv_std), inv_std, t));
    const BatchNormGrads ref = batchnorm_backward(x, dy, gamma, mean, inv_std);
    const BatchNormGrads got = cudnn::batchnorm_backward(gx, gpu(dy), ggamma, gmean, ginv_std, p);
    EXPECT_TRUE(testing::all_close(cpu(got.dx), ref.dx, {2e-5, 2e-4, 2e-5}));
    EXPECT_TRUE(testing::all_close(cpu(got.dgamma), ref.dgamma, {2e-5, 2e-4, 2e-5}));
    EXPECT_TRUE(testing::all_close(cpu(got.dbeta), ref.dbeta, {2e-5, 2e-4, 2e-5}));
    const Tensor yi = batchnorm_forward_inference(x, gamma, beta, rm, rv, p);
    EXPECT_TRUE(testing::all_close(
        cpu(cudnn::batchnorm_forward_inference(gx, ggamma, gpu(beta), grm, grv, p)), yi, t));
  }
}

}  // namespace
}  // namespace cudanet::kernels
