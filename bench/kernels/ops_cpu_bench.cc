// CPU benchmark (Google Benchmark) of the kernels/ ops on LeNet-5's layer shapes at batch 64:
// convolutions c1, c3 and c5 (forward, backward-data, backward-filter on the default fast path,
// im2col + GEMM over threads), max pooling s2 and s4, ReLU, the linear layers f6 and output,
// softmax-cross-entropy and the SGD-momentum update, all float32 through the Tensor-level entry
// points on CPU tensors.
//
// Counters: items_per_second counts images (64 per call; the SGD update counts parameters);
// FLOPS is the rate of the op's floating-point operations (conv: 2 N K (C/g) R S P Q per pass;
// linear: 2 N in out per product), bytes_per_second the rate of its minimum memory traffic
// (every operand read or written once) for the memory-bound ops.
// Rates are per wall-clock second (UseRealTime: the convolutions run on several threads).
// Built as cudanet_bench_kernels (bench/CMakeLists.txt); tools/device_check.sh runs it.
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

#include "core/random.h"
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/optimizer.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"

namespace cudanet::kernels {
namespace {

constexpr std::int64_t kBatch = 64;

Tensor uniform(const Shape& shape, double lo = -1, double hi = 1) {
  static Generator gen(2024);
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  t.uniform_(lo, hi, gen);
  return t;
}

// Per-call work: images (items), FLOPs and the minimum bytes moved (0: not reported).
void set_counters(benchmark::State& state, std::int64_t items, double flops, double bytes) {
  state.SetItemsProcessed(state.iterations() * items);
  if (bytes > 0) state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  if (flops > 0) {
    state.counters["FLOPS"] =
        benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  }
}

// ---- convolution --------------------------------------------------------------------------------

// One LeNet-5 convolution: x [kBatch, c, h, w], w [k, c, r, r], stride 1.
struct ConvCase {
  std::int64_t c, h, w, k, r, pad;
};
const ConvCase kC1 = {1, 28, 28, 6, 5, 2};   // 1@28x28 (padded by 2) -> 6@28x28
const ConvCase kC3 = {6, 14, 14, 16, 5, 0};  // 6@14x14 -> 16@10x10
const ConvCase kC5 = {16, 5, 5, 120, 5, 0};  // 16@5x5 -> 120@1x1

enum class Pass { kForward, kBackwardData, kBackwardFilter };

void BM_Conv2d(benchmark::State& state, ConvCase cc, Pass pass) {
  Conv2dParams p;
  p.pad_h = p.pad_w = cc.pad;
  const Conv2dGeometry g = conv2d_geometry({kBatch, cc.c, cc.h, cc.w}, {cc.k, cc.c, cc.r, cc.r}, p,
                                           "cudanet_bench_kernels");
  const Tensor x = uniform(g.x_shape()), w = uniform(g.w_shape()), dy = uniform(g.y_shape());
  for (auto _ : state) {
    Tensor out;
    switch (pass) {
      case Pass::kForward:
        out = conv2d_forward(x, w, nullptr, p);
        break;
      case Pass::kBackwardData:
        out = conv2d_backward_data(dy, w, g.x_shape(), p);
        break;
      case Pass::kBackwardFilter:
        out = conv2d_backward_filter(dy, x, g.w_shape(), p);
        break;
    }
    benchmark::DoNotOptimize(out.data_ptr());
  }
  // Each pass: 2 N K (C/g) R S P Q FLOPs.
  const double flops = 2.0 * g.n * g.k * g.c_per_group() * g.r * g.s * g.p * g.q;
  set_counters(state, kBatch, flops, 0);
  state.SetLabel(cpu::have_openblas() ? "im2col + OpenBLAS" : "im2col + reference GEMM");
}
BENCHMARK_CAPTURE(BM_Conv2d, c1_fwd, kC1, Pass::kForward)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c1_bwd_data, kC1, Pass::kBackwardData)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c1_bwd_filter, kC1, Pass::kBackwardFilter)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c3_fwd, kC3, Pass::kForward)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c3_bwd_data, kC3, Pass::kBackwardData)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c3_bwd_filter, kC3, Pass::kBackwardFilter)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c5_fwd, kC5, Pass::kForward)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c5_bwd_data, kC5, Pass::kBackwardData)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, c5_bwd_filter, kC5, Pass::kBackwardFilter)->UseRealTime();

// ---- max pooling 2x2, stride 2
// --------------------------------------------------------------------

// The layers keep the argmax as one-byte window offsets (kWindowOffset); kPlaneIndex is int64.
void BM_MaxPool(benchmark::State& state, Shape x_shape, bool backward, ArgmaxFormat format) {
  const auto p = Pool2dParams::square(2, 2);
  const Shape y_shape = pool2d_output_shape(x_shape, p);
  const Tensor x = uniform(x_shape), dy = uniform(y_shape);
  Tensor argmax;
  max_pool2d_forward(x, p, &argmax, format);
  for (auto _ : state) {
    Tensor out = backward ? max_pool2d_backward(dy, argmax, x_shape, p)
                          : max_pool2d_forward(x, p, &argmax, format);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  const double in = static_cast<double>(shape_numel(x_shape));
  const double out = static_cast<double>(shape_numel(y_shape));
  // Forward: read x, write y (4 B each) and argmax; backward: read dy and argmax, write dx.
  const double argmax_bytes = format == ArgmaxFormat::kWindowOffset ? 1 : 8;
  set_counters(state, kBatch, 0, 4 * in + (4 + argmax_bytes) * out);
}
constexpr ArgmaxFormat kOffset = ArgmaxFormat::kWindowOffset;
BENCHMARK_CAPTURE(BM_MaxPool, s2_fwd, Shape{kBatch, 6, 28, 28}, false, kOffset)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPool, s2_bwd, Shape{kBatch, 6, 28, 28}, true, kOffset)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPool, s4_fwd, Shape{kBatch, 16, 10, 10}, false, kOffset)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPool, s4_bwd, Shape{kBatch, 16, 10, 10}, true, kOffset)->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPool, s2_fwd_int64, Shape{kBatch, 6, 28, 28}, false,
                  ArgmaxFormat::kPlaneIndex)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MaxPool, s2_bwd_int64, Shape{kBatch, 6, 28, 28}, true,
                  ArgmaxFormat::kPlaneIndex)
    ->UseRealTime();

// ---- ReLU on c1's output ------------------------------------------------------------------------

void BM_Relu(benchmark::State& state, bool backward) {
  const Shape shape = {kBatch, 6, 28, 28};
  const Tensor x = uniform(shape), dy = uniform(shape);
  for (auto _ : state) {
    Tensor out = backward ? relu_backward(dy, x) : relu_forward(x);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  // Forward: read x, write y; backward: read dy and x, write dx (4 B each).
  const double n = static_cast<double>(shape_numel(shape));
  set_counters(state, kBatch, 0, (backward ? 12 : 8) * n);
}
BENCHMARK_CAPTURE(BM_Relu, relu1_fwd, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Relu, relu1_bwd, true)->UseRealTime();

// ---- linear layers ------------------------------------------------------------------------------

void BM_Linear(benchmark::State& state, std::int64_t in, std::int64_t out, bool backward) {
  const Tensor x = uniform({kBatch, in}), w = uniform({out, in}), b = uniform({out});
  const Tensor dy = uniform({kBatch, out});
  for (auto _ : state) {
    if (backward) {
      LinearGrads grads = linear_backward(dy, x, w, true);
      benchmark::DoNotOptimize(grads.dw.data_ptr());
    } else {
      Tensor y = linear_forward(x, w, &b);
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  // Forward: x w^T, 2 N in out FLOPs; backward: dx = dy w and dw = dy^T x, twice that (the bias
  // add and its gradient, N out each, are left out).
  const double flops = (backward ? 4.0 : 2.0) * kBatch * in * out;
  set_counters(state, kBatch, flops, 0);
  state.SetLabel(cpu::have_openblas() ? "OpenBLAS" : "reference GEMM");
}
BENCHMARK_CAPTURE(BM_Linear, f6_fwd, 120, 84, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, f6_bwd, 120, 84, true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, output_fwd, 84, 10, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, output_bwd, 84, 10, true)->UseRealTime();

// ---- softmax-cross-entropy over 10 classes
// --------------------------------------------------------

void BM_SoftmaxCrossEntropy(benchmark::State& state, bool backward) {
  const std::int64_t classes = 10;
  const Tensor logits = uniform({kBatch, classes}, -5, 5);
  std::vector<std::int64_t> l(kBatch);
  for (std::int64_t i = 0; i < kBatch; ++i) l[static_cast<std::size_t>(i)] = i % classes;
  const Tensor labels = Tensor::from_vector(l, {kBatch});
  Tensor probs;
  softmax_cross_entropy_forward(logits, labels, &probs);
  for (auto _ : state) {
    Tensor out = backward ? softmax_cross_entropy_backward(probs, labels)
                          : softmax_cross_entropy_forward(logits, labels, &probs);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  // Forward: read logits (4 B), labels (8 B a row), write probs (4 B); backward: read probs and
  // labels, write dx.
  set_counters(state, kBatch, 0, 8.0 * kBatch * classes + 8.0 * kBatch);
}
BENCHMARK_CAPTURE(BM_SoftmaxCrossEntropy, fwd, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_SoftmaxCrossEntropy, bwd, true)->UseRealTime();

// ---- SGD with momentum on c5's weight (the largest LeNet-5 parameter)
// -----------------------------

void BM_SgdMomentum(benchmark::State& state) {
  const Shape shape = {120, 16, 5, 5};
  Tensor param = uniform(shape);
  const Tensor grad = uniform(shape, -1e-3, 1e-3);
  Tensor buf = Tensor::zeros(shape);
  SgdParams p;
  p.lr = 0.01;
  p.momentum = 0.9;
  p.weight_decay = 5e-4;
  for (auto _ : state) {
    sgd_update(param, grad, &buf, p);
    benchmark::DoNotOptimize(param.data_ptr());
  }
  const std::int64_t n = shape_numel(shape);
  // Read param, grad and buf, write param and buf (4 B each); items are parameters here.
  set_counters(state, n, 0, 20.0 * static_cast<double>(n));
}
BENCHMARK(BM_SgdMomentum)->UseRealTime();

}  // namespace
}  // namespace cudanet::kernels
