// The cuDNN backend: the ops cuDNN 9 covers (convolution with groups, pooling, activations, LRN,
// softmax, batch normalisation) on CUDA tensors, behind the same argument checks as the
// hand-written kernels. Layers pick it with Backend::kCudnn; the fully connected layers then use
// cuBLAS (kernels/gemm.h). The implementation lives in kernels/cudnn/ and is compiled only when
// cuDNN was found (CUDANET_WITH_CUDNN); without it every op throws ValueError saying so.
//
// Why the legacy descriptor API and not the graph API: cuDNN 9 keeps the descriptor API for
// exactly these ops (convolution in libcudnn_cnn, the rest in libcudnn_ops), marked deprecated
// but supported and documented, and each op maps to one call with the same semantics as our
// hand-written kernel, which keeps this backend a thin, readable layer. The graph API (or the
// cudnn-frontend wrapper) pays off for fused operation graphs and FP16/BF16 engines, neither of
// which cudanet uses yet; it would add an engine-config and plan cache per op and a dependency
// for no FP32 speed-up on these shapes. The choice stays inside kernels/cudnn/: switching a file
// to the graph API changes no caller.
//
// Settings (process-wide):
//   - precision: kernels::allow_tf32() (kernels/gemm.h) decides for cuBLAS and cuDNN alike;
//     when off, convolutions run with CUDNN_FMA_MATH (strict FP32, no tensor cores).
//   - determinism: with kernels::deterministic() only algorithms cuDNN reports as deterministic
//     are chosen, and max pooling uses CUDNN_POOLING_MAX_DETERMINISTIC.
//   - algorithm choice: heuristics (cudnnGet*Algorithm_v7) by default; set_benchmark(true) (or
//     CUDANET_CUDNN_BENCHMARK=1 at start-up) times every candidate once per shape with
//     cudnnFind*AlgorithmEx. Either way the winner is cached per (pass, shape, dtype, device,
//     settings) and reused; workspaces come from the caching allocator and are capped by
//     workspace_limit().
//
// Note: a cuDNN handle is created once per thread, device and stream, bound to that stream at
// creation, and kept until the thread ends: no call creates or rebinds a handle.
#pragma once

#include <cstddef>
#include <string>

#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/lrn.h"
#include "kernels/pool2d.h"

namespace cudanet::kernels::cudnn {

// True when this library was built with cuDNN.
bool available();
// "9.19.0" (the loaded library's version), or "not built" without cuDNN.
std::string version();
// Throws ValueError naming `who` unless the library was built with cuDNN.
void require_available(const char* who);

void set_benchmark(bool on);
bool benchmark();
// Largest workspace (bytes) a convolution algorithm may use; default 1 GiB.
void set_workspace_limit(std::size_t bytes);
std::size_t workspace_limit();
// Cached algorithm choices (all threads), and a way to forget them (tests, settings changes do
// not need it: the settings are part of the key).
std::size_t algorithm_cache_size();
void clear_algorithm_cache();
// cuDNN handles created by the calling thread so far (one per device and stream).
std::size_t handle_count();
// The algorithm chosen for pass "fwd", "bwd-data" or "bwd-filter" of this geometry in float32 on
// cuda:0 under the current settings, e.g. "fwd IMPLICIT_PRECOMP_GEMM (FMA, 0 B)"; empty when
// none was chosen yet; ValueError for another pass name. For logs and tests.
std::string chosen_algorithm(const std::string& pass, const Conv2dGeometry& g);

enum class PoolKind { kMax, kAvg };

// The output shapes cuDNN derives from the descriptors this backend builds for a convolution and
// a pooling (descriptors are host objects: no GPU needed). Tests compare them with kernels/'s
// geometry, which checks the descriptors' parameter order without a GPU. Arguments are checked as
// by the ops.
Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p);
Shape pool2d_output_shape(PoolKind kind, const Shape& x_shape, const Pool2dParams& p);

// ---- Tensor level: CUDA tensors only (ValueError otherwise); same contracts as kernels/ ----
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p);
Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p);
Tensor conv2d_backward_bias(const Tensor& dy);

// Pooling with kernels/pool2d.h's geometry (average: count_include_pad as in the params).
// The backward takes the forward's input and output instead of an argmax.
Tensor pool2d_forward(PoolKind kind, const Tensor& x, const Pool2dParams& p);
Tensor pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& x, const Tensor& y,
                       const Pool2dParams& p);

// ReLU, sigmoid and tanh (cuDNN has no leaky ReLU: supports() is false for it).
bool supports(Activation kind);
Tensor activation_forward(Activation kind, const Tensor& x);
Tensor activation_backward(Activation kind, const Tensor& dy, const Tensor& x, const Tensor& y);

// cuDNN's LRN window is PyTorch's for odd sizes only; it also needs size <= 16, k >= 1e-5,
// beta >= 0.01. supports() says whether `p` qualifies (callers fall back to the native kernel).
bool supports(const LrnParams& p);
Tensor lrn_forward(const Tensor& x, const LrnParams& p);
Tensor lrn_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const LrnParams& p);

// Softmax over the last dimension of [N, C] (CUDNN_SOFTMAX_ACCURATE: the row maximum first).
Tensor softmax_forward(const Tensor& x);
Tensor softmax_backward(const Tensor& y, const Tensor& dy);

// Batch normalisation, spatial mode, with kernels/batchnorm.h's conventions (the saved inverse
// standard deviation, an unbiased running variance). The backward needs the forward's eps.
Tensor batchnorm_forward_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor* running_mean, Tensor* running_var,
                                  const BatchNormParams& p, Tensor* save_mean,
                                  Tensor* save_inv_std);
Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   const BatchNormParams& p);
BatchNormGrads batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_inv_std,
                                  const BatchNormParams& p);

}  // namespace cudanet::kernels::cudnn
