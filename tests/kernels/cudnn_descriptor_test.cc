// The cuDNN backend's descriptors, checked without a GPU: the output shape cuDNN derives from the
// convolution and pooling descriptors equals kernels/'s geometry for strides, paddings, dilations
// and groups that differ per dimension, so a swapped argument of cudnnSet*Descriptor shows here.
// The settings and the refusal of a build without cuDNN are checked too.
#include <gtest/gtest.h>
#include <string>

#include "core/config.h"
#include "kernels/cudnn.h"
#include "tensor_testing.h"

#if CUDANET_WITH_CUDNN
#include <cudnn.h>

#include "core/cuda/library_check.h"
#endif

namespace cudanet::kernels {
namespace {

#if CUDANET_WITH_CUDNN

Conv2dParams asymmetric(std::int64_t groups) {
  Conv2dParams p;
  p.stride_h = 3, p.stride_w = 1;
  p.pad_h = 2, p.pad_w = 0;
  p.dilation_h = 1, p.dilation_w = 3;
  p.groups = groups;
  return p;
}

TEST(CudnnDescriptors, ConvolutionOutputShapesMatchTheGeometry) {
  struct Case {
    Shape x, w;
    Conv2dParams p;
  };
  Conv2dParams alex1;
  alex1.stride_h = alex1.stride_w = 4;
  Conv2dParams same;
  same.pad_h = same.pad_w = 2;
  Conv2dParams tall = asymmetric(1);
  std::swap(tall.stride_h, tall.stride_w);
  std::swap(tall.pad_h, tall.pad_w);
  std::swap(tall.dilation_h, tall.dilation_w);
  const std::vector<Case> cases = {
      {{2, 3, 227, 227}, {96, 3, 11, 11}, alex1},
      {{2, 96, 27, 27},
       {256, 48, 5, 5},
       [] {
         Conv2dParams p;
         p.pad_h = p.pad_w = 2;
         p.groups = 2;
         return p;
       }()},
      {{1, 4, 9, 17}, {6, 2, 2, 4}, asymmetric(2)},
      {{3, 5, 20, 11}, {7, 5, 4, 2}, tall},
      {{1, 1, 28, 28}, {6, 1, 5, 5}, same},
  };
  for (const Case& c : cases) {
    const Shape expected = conv2d_geometry(c.x, c.w, c.p, "test").y_shape();
    EXPECT_EQ(cudnn::conv2d_output_shape(c.x, c.w, c.p), expected)
        << shape_str(c.x) << " * " << shape_str(c.w);
  }
  EXPECT_THROW(cudnn::conv2d_output_shape({1, 3, 8, 8}, {4, 2, 3, 3}, {}), ShapeError);
}

TEST(CudnnDescriptors, PoolingOutputShapesMatchTheGeometry) {
  Pool2dParams rect;
  rect.kernel_h = 3, rect.kernel_w = 2;
  rect.stride_h = 2, rect.stride_w = 1;
  rect.pad_h = 1, rect.pad_w = 0;
  for (const Pool2dParams& p :
       {Pool2dParams::square(3, 2), Pool2dParams::square(2), Pool2dParams::square(3, 2, 1), rect}) {
    for (const Shape& x : {Shape{2, 96, 55, 55}, Shape{1, 3, 13, 8}}) {
      for (cudnn::PoolKind kind : {cudnn::PoolKind::kMax, cudnn::PoolKind::kAvg}) {
        EXPECT_EQ(cudnn::pool2d_output_shape(kind, x, p), pool2d_output_shape(x, p))
            << shape_str(x) << " kernel " << p.kernel_h << "x" << p.kernel_w;
      }
    }
  }
}

TEST(CudnnDescriptors, LrnSupportFollowsCudnnLimits) {
  LrnParams p;  // 5, 1e-4, 0.75, 1
  EXPECT_TRUE(cudnn::supports(p));
  p.size = 4;  // even: cuDNN's window is shifted by one channel
  EXPECT_FALSE(cudnn::supports(p));
  p.size = 17;
  EXPECT_FALSE(cudnn::supports(p));
  p.size = 3;
  p.beta = 0.001;
  EXPECT_FALSE(cudnn::supports(p));
}

#endif

#if CUDANET_WITH_CUDNN
// A failing cuDNN call's error carries cuDNN's own reason (cudnnGetLastErrorString), not only the
// status: on the GPU machine that is the difference between a fix and another session.
TEST(CudnnDescriptors, ErrorsCarryCudnnsReason) {
  cudnnTensorDescriptor_t d = nullptr;
  CUDANET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  try {
    CUDANET_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 1, 1));
    ADD_FAILURE() << "cuDNN accepted a tensor with n = 0";
  } catch (const CudaError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << what;
    EXPECT_NE(what.find("cudnnSetTensor4dDescriptor"), std::string::npos) << what;
    // The call's text ends with ')'; cuDNN's reason follows it after ": ".
    EXPECT_NE(what.find("): "), std::string::npos) << what;
  }
  (void)cudnnDestroyTensorDescriptor(d);
}
#endif

TEST(CudnnSettings, BenchmarkAndWorkspaceLimitAreSettable) {
  const bool bench = cudnn::benchmark();
  const std::size_t limit = cudnn::workspace_limit();
  cudnn::set_benchmark(!bench);
  EXPECT_EQ(cudnn::benchmark(), !bench);
  cudnn::set_benchmark(bench);
  cudnn::set_workspace_limit(1234);
  EXPECT_EQ(cudnn::workspace_limit(), 1234u);
  cudnn::set_workspace_limit(limit);
  EXPECT_EQ(cudnn::available(), CUDANET_WITH_CUDNN != 0);
  if (!cudnn::available()) {
    EXPECT_THROW(cudnn::conv2d_output_shape({1, 1, 4, 4}, {1, 1, 3, 3}, {}), ValueError);
    EXPECT_EQ(cudnn::algorithm_cache_size(), 0u);
  }
}

}  // namespace
}  // namespace cudanet::kernels
