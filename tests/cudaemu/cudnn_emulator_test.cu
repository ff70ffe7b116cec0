// cudaemu's cuDNN stand-in (tools/cudaemu/src/cudnn*.cc): that it computes what cuDNN's
// documentation says (checked here against hand-worked numbers, not against cudanet's CPU
// reference, which the backend tests use), and that it refuses what cuDNN refuses: a short
// workspace, a find call during stream capture, TF32 under strict FP32, reads of an output that
// beta = 0 says not to read. Built only with CUDANET_CUDA=EMULATE.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace {

#define EXPECT_CUDNN_OK(expr) EXPECT_EQ((expr), CUDNN_STATUS_SUCCESS) << last_error()

std::string last_error() {
  char why[512] = {0};
  cudnnGetLastErrorString(why, sizeof why);
  return why;
}

// A device copy of `values` (new device memory is all bits set, so an unwritten element is NaN).
float* to_device(const std::vector<float>& values, std::size_t extra = 0) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, (values.size() + extra) * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  return static_cast<float*>(p);
}

std::vector<float> to_host(const float* p, std::size_t n) {
  std::vector<float> out(n);
  EXPECT_EQ(cudaMemcpy(out.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return out;
}

struct Fixture {
  cudnnHandle_t h = nullptr;
  cudaStream_t stream = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Fixture() {
    EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    EXPECT_CUDNN_OK(cudnnCreate(&h));
    EXPECT_CUDNN_OK(cudnnSetStream(h, stream));
    EXPECT_CUDNN_OK(cudnnCreateTensorDescriptor(&x));
    EXPECT_CUDNN_OK(cudnnCreateTensorDescriptor(&y));
    EXPECT_CUDNN_OK(cudnnCreateFilterDescriptor(&w));
    EXPECT_CUDNN_OK(cudnnCreateConvolutionDescriptor(&conv));
  }
  ~Fixture() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroy(h);
    cudaStreamDestroy(stream);
  }
  // x [1, 1, 3, 3] * w [1, 1, 2, 2], stride 1, no padding: y [1, 1, 2, 2].
  void small_convolution(cudnnMathType_t math) {
    EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 3, 3));
    EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 2, 2));
    EXPECT_CUDNN_OK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 2, 2));
    EXPECT_CUDNN_OK(cudnnSetConvolution2dDescriptor(conv, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT));
    EXPECT_CUDNN_OK(cudnnSetConvolutionMathType(conv, math));
  }
};

const float kOne = 1.0f, kZero = 0.0f;

TEST(CudaemuCudnn, ConvolutionIsACrossCorrelationAndBetaZeroReadsNoOutput) {
  Fixture f;
  f.small_convolution(CUDNN_FMA_MATH);
  float* x = to_device({1, 2, 3, 4, 5, 6, 7, 8, 9});
  float* w = to_device({1, 0, 0, -1});  // y[i, j] = x[i, j] - x[i + 1, j + 1] = -4 everywhere
  float* y = to_device({}, 4);          // poisoned: NaN unless written
  EXPECT_CUDNN_OK(cudnnConvolutionForward(f.h, &kOne, f.x, x, f.w, w, f.conv,
                                          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0,
                                          &kZero, f.y, y));
  EXPECT_EQ(to_host(y, 4), (std::vector<float>{-4, -4, -4, -4}));
  const float two = 2.0f;  // beta = 2: y = 1 * conv + 2 * y
  EXPECT_CUDNN_OK(cudnnConvolutionForward(f.h, &kOne, f.x, x, f.w, w, f.conv,
                                          CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0,
                                          &two, f.y, y));
  EXPECT_EQ(to_host(y, 4), (std::vector<float>{-12, -12, -12, -12}));
  cudaFree(x), cudaFree(w), cudaFree(y);
}

TEST(CudaemuCudnn, Fp32ConvolutionUsesTf32UnlessTheMathTypeIsFma) {
  const float fine = 1.0f + 1.0f / 4096;  // needs 12 mantissa bits: TF32 rounds it to 1
  for (cudnnMathType_t math : {CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH}) {
    Fixture f;
    f.small_convolution(math);
    float* x = to_device(std::vector<float>(9, fine));
    float* w = to_device({1, 0, 0, 0});
    float* y = to_device({}, 4);
    EXPECT_CUDNN_OK(cudnnConvolutionForward(f.h, &kOne, f.x, x, f.w, w, f.conv,
                                            CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, nullptr, 0,
                                            &kZero, f.y, y));
    EXPECT_EQ(to_host(y, 1)[0], math == CUDNN_FMA_MATH ? fine : 1.0f) << "math type " << math;
    cudaFree(x), cudaFree(w), cudaFree(y);
  }
}

TEST(CudaemuCudnn, AShortWorkspaceIsABadParamThatSaysWhatIsNeeded) {
  Fixture f;
  f.small_convolution(CUDNN_FMA_MATH);
  std::size_t need = 0;
  EXPECT_CUDNN_OK(cudnnGetConvolutionForwardWorkspaceSize(f.h, f.x, f.w, f.conv, f.y,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &need));
  ASSERT_GT(need, 0u);
  float* x = to_device(std::vector<float>(9, 1));
  float* w = to_device(std::vector<float>(4, 1));
  float* y = to_device({}, 4);
  float* ws = to_device({}, need / sizeof(float));
  EXPECT_EQ(cudnnConvolutionForward(f.h, &kOne, f.x, x, f.w, w, f.conv,
                                    CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws, need - 1, &kZero, f.y, y),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_NE(last_error().find("needs a workspace of " + std::to_string(need)), std::string::npos);
  EXPECT_CUDNN_OK(cudnnConvolutionForward(f.h, &kOne, f.x, x, f.w, w, f.conv,
                                          CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws, need, &kZero, f.y,
                                          y));
  EXPECT_EQ(to_host(y, 4), (std::vector<float>{4, 4, 4, 4}));
  cudaFree(x), cudaFree(w), cudaFree(y), cudaFree(ws);
}

TEST(CudaemuCudnn, FindRefusesACapturingStreamAndClobbersTheOutputOtherwise) {
  Fixture f;
  f.small_convolution(CUDNN_FMA_MATH);
  float* x = to_device(std::vector<float>(9, 1));
  float* w = to_device(std::vector<float>(4, 1));
  float* y = to_device({7, 7, 7, 7});
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  ASSERT_EQ(cudaStreamBeginCapture(f.stream, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudnnFindConvolutionForwardAlgorithmEx(f.h, f.x, x, f.w, w, f.conv, f.y, y,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                   perf, nullptr, 0),
            CUDNN_STATUS_EXECUTION_FAILED);
  EXPECT_NE(last_error().find("capturing"), std::string::npos);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(f.stream, &graph), cudaSuccess);
  cudaGraphDestroy(graph);
  EXPECT_CUDNN_OK(cudnnFindConvolutionForwardAlgorithmEx(f.h, f.x, x, f.w, w, f.conv, f.y, y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                         &returned, perf, nullptr, 0));
  ASSERT_GT(returned, 0);
  // Without workspace, only the algorithms that need none come first, as successes.
  EXPECT_EQ(perf[0].status, CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(perf[0].memory, 0u);
  for (float v : to_host(y, 4)) EXPECT_TRUE(std::isnan(v)) << "find left the output as it was";
  cudaFree(x), cudaFree(w), cudaFree(y);
}

// x [2, 1, 4, 4] * w [1, 1, 3, 3]: backward-filter sums over 2 images and 4 positions.
TEST(CudaemuCudnn, NonDeterministicAlgorithmsDifferBitwiseBetweenCalls) {
  Fixture f;
  EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(f.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 1, 4, 4));
  EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(f.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 1, 2, 2));
  EXPECT_CUDNN_OK(cudnnSetFilter4dDescriptor(f.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 3, 3));
  EXPECT_CUDNN_OK(cudnnSetConvolution2dDescriptor(f.conv, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT));
  EXPECT_CUDNN_OK(cudnnSetConvolutionMathType(f.conv, CUDNN_FMA_MATH));
  // Image 0 holds large values, image 1 small ones: their order in a float sum matters.
  std::vector<float> xs(32), dys(8);
  for (int i = 0; i < 32; ++i) xs[i] = i < 16 ? 1e8f + 3.0f * i : 1.0f + 0.37f * i;
  for (int i = 0; i < 8; ++i) dys[i] = i < 4 ? 1.0f : -1.0f;
  float* x = to_device(xs);
  float* dy = to_device(dys);
  float* dw = to_device({}, 9);
  auto run = [&](cudnnConvolutionBwdFilterAlgo_t algo) {
    std::size_t bytes = 0;
    EXPECT_CUDNN_OK(
        cudnnGetConvolutionBackwardFilterWorkspaceSize(f.h, f.x, f.y, f.conv, f.w, algo, &bytes));
    float* ws = to_device({}, bytes / sizeof(float) + 1);
    EXPECT_CUDNN_OK(cudnnConvolutionBackwardFilter(f.h, &kOne, f.x, x, f.y, dy, f.conv, algo, ws,
                                                   bytes, &kZero, f.w, dw));
    cudaFree(ws);
    return to_host(dw, 9);
  };
  const std::vector<float> a0 = run(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);
  const std::vector<float> a1 = run(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0);
  EXPECT_NE(a0, a1) << "ALGO_0 is documented non-deterministic: consecutive calls should differ";
  EXPECT_EQ(run(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1), run(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1));
  // The order is chosen when the op runs: two replays of one captured call differ too.
  ASSERT_EQ(cudaStreamBeginCapture(f.stream, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_CUDNN_OK(cudnnConvolutionBackwardFilter(f.h, &kOne, f.x, x, f.y, dy, f.conv,
                                                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, nullptr, 0,
                                                 &kZero, f.w, dw));
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(f.stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  std::vector<std::vector<float>> replays;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(cudaGraphLaunch(exec, f.stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(f.stream), cudaSuccess);
    replays.push_back(to_host(dw, 9));
  }
  EXPECT_NE(replays[0], replays[1]);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaFree(x), cudaFree(dy), cudaFree(dw);
}

// cuDNN's LRN on one pixel of 4 channels, n = 3 (window [c - 1, c + 1]), alpha = 0.3, beta = 0.5,
// k = 1: y_c = x_c / sqrt(1 + 0.1 * (sum of squares in the window)), worked by hand.
TEST(CudaemuCudnn, LrnDividesAlphaByTheWindowSize) {
  Fixture f;
  cudnnLRNDescriptor_t lrn = nullptr;
  EXPECT_CUDNN_OK(cudnnCreateLRNDescriptor(&lrn));
  EXPECT_CUDNN_OK(cudnnSetLRNDescriptor(lrn, 3, 0.3, 0.5, 1.0));
  EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(f.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 4, 1, 1));
  float* x = to_device({1, 2, 3, 4});
  float* y = to_device({}, 4);
  EXPECT_CUDNN_OK(cudnnLRNCrossChannelForward(f.h, lrn, CUDNN_LRN_CROSS_CHANNEL_DIM1, &kOne, f.x, x,
                                              &kZero, f.x, y));
  const std::vector<float> got = to_host(y, 4);
  const double sums[4] = {1 + 4, 1 + 4 + 9, 4 + 9 + 16, 9 + 16};
  for (int c = 0; c < 4; ++c)
    EXPECT_NEAR(got[c], (c + 1) / std::sqrt(1 + 0.1 * sums[c]), 1e-6) << "channel " << c;
  EXPECT_EQ(cudnnSetLRNDescriptor(lrn, 17, 0.3, 0.5, 1.0), CUDNN_STATUS_BAD_PARAM);
  cudnnDestroyLRNDescriptor(lrn);
  cudaFree(x), cudaFree(y);
}

TEST(CudaemuCudnn, CapturedOpsReplayWithTheirScalars) {
  Fixture f;
  cudnnActivationDescriptor_t relu = nullptr;
  EXPECT_CUDNN_OK(cudnnCreateActivationDescriptor(&relu));
  EXPECT_CUDNN_OK(
      cudnnSetActivationDescriptor(relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0));
  EXPECT_CUDNN_OK(cudnnSetTensor4dDescriptor(f.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 3));
  float* x = to_device({-1, 2, 3});
  float* y = to_device({}, 3);
  float alpha = 2.0f;
  ASSERT_EQ(cudaStreamBeginCapture(f.stream, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_CUDNN_OK(cudnnActivationForward(f.h, relu, &alpha, f.x, x, &kZero, f.x, y));
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(f.stream, &graph), cudaSuccess);
  for (float v : to_host(y, 3)) EXPECT_TRUE(std::isnan(v)) << "a captured op ran at capture";
  alpha = 5.0f;  // cuDNN reads alpha at the call: the graph keeps 2
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, f.stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(f.stream), cudaSuccess);
  EXPECT_EQ(to_host(y, 3), (std::vector<float>{0, 4, 6}));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudnnDestroyActivationDescriptor(relu);
  cudaFree(x), cudaFree(y);
}

TEST(CudaemuCudnnDeathTest, AWorkspaceOutsideDeviceMemoryIsAnIllegalAddress) {
  EXPECT_DEATH(
      {
        Fixture f;
        f.small_convolution(CUDNN_FMA_MATH);
        float* x = to_device(std::vector<float>(9, 1));
        float* w = to_device(std::vector<float>(4, 1));
        float* y = to_device({}, 4);
        std::vector<char> host_ws(1 << 12);
        const cudnnStatus_t st = cudnnConvolutionForward(
            f.h, &kOne, f.x, x, f.w, w, f.conv, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, host_ws.data(),
            host_ws.size(), &kZero, f.y, y);
        if (st != CUDNN_STATUS_SUCCESS) std::abort();
      },
      "cudnnConvolutionForward: a buffer runs outside its device allocation");
}

}  // namespace
