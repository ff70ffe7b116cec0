// GPU benchmark of the kernels/ ops on the layer shapes of the seed's AlexNet and of LeNet-5, at
// batch 128: convolution forward, backward-data and backward-filter with both hand-written
// algorithms (implicit GEMM and im2col + GEMM), each against cuDNN's fastest FP32 algorithm
// (through cudanet's cuDNN backend in benchmark mode) when built with cuDNN; max pooling, ReLU,
// LRN, dropout, softmax-cross-entropy, the SGD-momentum and Adam updates, and LeNet's linear
// layers.
//
//   cudanet_gpu_bench_ops [--json PATH] [--min-runs N] [--budget-ms MS] [--time-limit S]
//                         [--no-cudnn] [--batch N] [--nets alexnet,lenet5]
//
// --batch (default 128) and --nets (default both) exist for smoke runs: the emulated build runs
// `--batch 2 --nets lenet5` as a test (bench/kernels/CMakeLists.txt), so this program's code has
// run before a GPU session spends minutes on it.
//
// Timing (bench/kernels/gpu_timer.h): the Tensor-level entry points on Device::cuda(0), bracketed
// by CUDA events on the device's current stream, the L2 flushed before every run; 3 warm-up
// calls, then the median of at least --min-runs (20) runs, more (up to 100) for fast ops so that
// each case takes about --budget-ms (250). The times include the host work of each entry point
// (argument checks, the caching allocator's output allocation), mostly hidden behind the flush.
// Cases that would start after --time-limit seconds (100) are skipped, so the program finishes
// within device_check.sh's limit.
//
// Reported: compute-bound ops (convolution, linear): FLOPs and TFLOP/s; for convolutions also
// native/cuDNN = cuDNN time / native time (1.0 is parity; the target is >= 0.5). Bandwidth-bound
// ops: the minimum DRAM traffic (every operand read or written once), GB/s, and the fraction of
// the device-to-device copy bandwidth measured first in the same run (cudaMemcpy of 1 GiB, its
// read and its write counted; the target is >= 0.7). Operands of a few MB finish in microseconds
// and are bound by launch latency, not bandwidth. Each FLOP and byte count is written next to its
// case below. Native results are compared with cuDNN's (or implicit GEMM with im2col without it).
// Without a GPU it says why and exits 0.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "bench/kernels/gpu_timer.h"
#include "core/cuda_runtime.h"
#include "core/random.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "kernels/cudnn.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/lrn.h"
#include "kernels/optimizer.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"

namespace {

using cudanet::Device;
using cudanet::DType;
using cudanet::Shape;
using cudanet::Tensor;
using cudanet::bench::GpuTimer;
using cudanet::bench::RunPolicy;
using cudanet::bench::Timing;
using cudanet::kernels::ConvAlgo;
namespace kernels = cudanet::kernels;

constexpr double kMaxRelDiff = 1e-3;  // native vs reference, relative to the largest |value|

enum class Pass { kForward, kBackwardData, kBackwardFilter };
const char* pass_name(Pass pass) {
  return pass == Pass::kForward ? "fwd" : pass == Pass::kBackwardData ? "bwd-data" : "bwd-filter";
}

struct Options {
  std::string json;
  int min_runs = 20;
  double budget_ms = 250;
  double time_limit_s = 100;
  bool cudnn = true;
  std::int64_t batch = 128;
  bool alexnet = true, lenet5 = true;
};

// One convolution layer: input [batch, c, h, w], filter [k, c / groups, r, s].
struct ConvShape {
  const char* net;
  const char* layer;
  std::int64_t c, h, w, k, r, s;
  kernels::Conv2dParams p;
};

struct ConvResult {
  std::string net, layer, pass, shape;
  double flops = 0;
  Timing implicit, im2col, cudnn;  // cudnn.runs == 0: not measured
  std::string cudnn_algo;
  double diff_implicit = -1, diff_im2col = -1;  // vs the reference; -1: not compared
  std::string reference;                        // "cudnn" or "implicit_gemm"
  bool skipped = false;
};

struct OpResult {
  std::string group, name, shape;
  double flops = 0;  // > 0: compute bound (TFLOP/s)
  double bytes = 0;  // minimum DRAM traffic
  Timing t;
  bool skipped = false;
};

std::string shape_text(const Shape& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

class Bench {
 public:
  explicit Bench(const Options& o)
      : options_(o),
        gpu_(Device::cuda(0)),
        stream_(cudanet::current_stream(gpu_)),
        timer_(stream_),
        gen_(2024),
        start_(std::chrono::steady_clock::now()) {
    policy_ = RunPolicy{3, o.min_runs, std::max(o.min_runs, 100), o.budget_ms};
    // cuDNN through cudanet's own backend (kernels/cudnn.h), in benchmark mode: each shape's
    // algorithms are timed once (in the warm-up calls) and the fastest strict-FP32 one runs.
    if (!o.cudnn) {
      cudnn_status_ = "cuDNN comparison off (--no-cudnn)";
    } else if (!kernels::cudnn::available()) {
      cudnn_status_ = "built without cuDNN: no comparison";
    } else {
      cudnn_ = true;
      kernels::cudnn::set_benchmark(true);
      // 2 GiB lets every algorithm of these shapes run, FFT and Winograd included.
      kernels::cudnn::set_workspace_limit(std::size_t{2} << 30);
      cudnn_status_ = "cuDNN " + kernels::cudnn::version() +
                      " (cudanet's cuDNN backend, algorithms timed), CUDNN_FMA_MATH (no TF32), "
                      "2 GiB workspace limit";
    }
  }

  const std::string& cudnn_status() const { return cudnn_status_; }

  // The reference for "fraction of copy bandwidth": cudaMemcpy device to device of 1 GiB.
  // Bytes moved: 2 * 1 GiB (read the source, write the destination).
  void measure_copy_bandwidth() {
    const std::int64_t bytes = std::int64_t{1} << 30;
    Tensor src = Tensor::empty({bytes}, DType::kUInt8, gpu_);
    Tensor dst = Tensor::empty({bytes}, DType::kUInt8, gpu_);
    CUDANET_CUDA_CHECK(cudaMemsetAsync(src.data_ptr(), 1, static_cast<std::size_t>(bytes),
                                       static_cast<cudaStream_t>(stream_.handle())));
    const Timing t = timer_.measure(
        [&] {
          CUDANET_CUDA_CHECK(cudaMemcpyAsync(
              dst.data_ptr(), src.data_ptr(), static_cast<std::size_t>(bytes),
              cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream_.handle())));
        },
        policy_);
    copy_gbps_ = 2.0 * static_cast<double>(bytes) / (t.median_ms * 1e6);
    std::printf(
        "device-to-device copy of 1 GiB: %.3f ms, %.0f GB/s (read + write; median of %d)\n\n",
        t.median_ms, copy_gbps_, t.runs);
    std::fflush(stdout);
  }

  // ---- convolutions -----------------------------------------------------------------------------

  void print_conv_header() const {
    std::printf(
        "| net | layer | pass | GFLOP | implicit-GEMM ms | TFLOP/s | native/cuDNN | im2col ms | "
        "TFLOP/s | native/cuDNN | cuDNN ms | TFLOP/s | cuDNN algo |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  }

  void conv(const ConvShape& s) {
    const kernels::Conv2dGeometry g =
        kernels::conv2d_geometry({options_.batch, s.c, s.h, s.w}, {s.k, s.c / s.p.groups, s.r, s.s},
                                 s.p, "cudanet_gpu_bench_ops");
    // FLOPs, the same for each pass: 2 N K (C/g) R S P Q (a multiply and an add per filter tap
    // and output element; backward-data and backward-filter are the same products rearranged).
    const double flops = 2.0 * g.n * g.k * g.c_per_group() * g.r * g.s * g.p * g.q;
    Tensor x = uniform(g.x_shape()), w = uniform(g.w_shape()), dy = uniform(g.y_shape());
    for (Pass pass : {Pass::kForward, Pass::kBackwardData, Pass::kBackwardFilter}) {
      ConvResult r;
      r.net = s.net;
      r.layer = s.layer;
      r.pass = pass_name(pass);
      r.shape = shape_text(g.x_shape()) + " * " + shape_text(g.w_shape()) + " -> " +
                shape_text(g.y_shape());
      r.flops = flops;
      if (out_of_time()) {
        r.skipped = true;
        print_conv_row(r);
        convs_.push_back(r);
        continue;
      }
      // The hand-written passes through the Tensor-level entry points.
      auto native = [&](ConvAlgo algo, Tensor& out) {
        switch (pass) {
          case Pass::kForward:
            out = kernels::conv2d_forward(x, w, nullptr, g.params, algo);
            break;
          case Pass::kBackwardData:
            out = kernels::conv2d_backward_data(dy, w, g.x_shape(), g.params, algo);
            break;
          case Pass::kBackwardFilter:
            out = kernels::conv2d_backward_filter(dy, x, g.w_shape(), g.params, algo);
            break;
        }
      };
      Tensor out_implicit, out_im2col, out_cudnn;
      const std::string what = r.layer + " " + r.pass;
      r.implicit = try_measure(what + " implicit GEMM",
                               [&] { native(ConvAlgo::kImplicitGemm, out_implicit); });
      r.im2col = try_measure(what + " im2col", [&] { native(ConvAlgo::kIm2col, out_im2col); });
      if (cudnn_) {
        // The first (warm-up) call times cuDNN's candidates; the chosen one is cached.
        const auto cudnn_pass = [&] {
          switch (pass) {
            case Pass::kForward:
              out_cudnn = kernels::cudnn::conv2d_forward(x, w, nullptr, g.params);
              break;
            case Pass::kBackwardData:
              out_cudnn = kernels::cudnn::conv2d_backward_data(dy, w, g.x_shape(), g.params);
              break;
            case Pass::kBackwardFilter:
              out_cudnn = kernels::cudnn::conv2d_backward_filter(dy, x, g.w_shape(), g.params);
              break;
          }
        };
        r.cudnn = try_measure(what + " cuDNN", cudnn_pass);
        if (r.cudnn.runs == 0) {
          out_cudnn = Tensor();
        } else {
          // "fwd IMPLICIT_PRECOMP_GEMM (FMA, 0 B, timed)" without the pass.
          const std::string chosen = kernels::cudnn::chosen_algorithm(r.pass, g);
          r.cudnn_algo = chosen.substr(chosen.find(' ') + 1);
        }
      }
      if (r.implicit.runs == 0) out_implicit = Tensor();
      if (r.im2col.runs == 0) out_im2col = Tensor();
      const Tensor& reference = out_cudnn.defined() ? out_cudnn : out_implicit;
      r.reference = out_cudnn.defined() ? "cudnn" : "implicit_gemm";
      if (out_cudnn.defined()) r.diff_implicit = compare(what, out_implicit, reference);
      r.diff_im2col = compare(what, out_im2col, reference);
      if (r.diff_implicit > kMaxRelDiff) {
        warn(r.layer + " " + r.pass + ": implicit GEMM differs from cuDNN by " +
             fmt("%.3g", r.diff_implicit));
      }
      if (r.diff_im2col > kMaxRelDiff) {
        warn(r.layer + " " + r.pass + ": im2col differs from " + r.reference + " by " +
             fmt("%.3g", r.diff_im2col));
      }
      print_conv_row(r);
      convs_.push_back(r);
    }
  }

  // ---- the other ops ----------------------------------------------------------------------------

  void print_op_header() const {
    std::printf(
        "| net | op | shape | min MB | ms | GB/s | of D2D copy | GFLOP | TFLOP/s | runs |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n");
  }

  // Max pooling on x [N, C, H, W] -> y [N, C, P, Q] (argmax int64, shaped like y).
  void max_pool(const char* net, const char* name, const Shape& x_shape, std::int64_t kernel,
                std::int64_t stride) {
    const auto p = kernels::Pool2dParams::square(kernel, stride);
    const Shape y_shape = kernels::pool2d_output_shape(x_shape, p);
    const double in = static_cast<double>(cudanet::shape_numel(x_shape));
    const double out = static_cast<double>(cudanet::shape_numel(y_shape));
    const std::string shape = shape_text(x_shape) + " k" + std::to_string(kernel) + "/s" +
                              std::to_string(stride) + " -> " + shape_text(y_shape);
    Tensor x = uniform(x_shape), dy = uniform(y_shape), argmax, dx;
    Tensor y = kernels::max_pool2d_forward(x, p, &argmax);
    // Forward bytes: read x (4 B), write y (4 B) and argmax (8 B).
    op(net, std::string(name) + " fwd", shape, 0, 4 * in + 12 * out,
       [&] { y = kernels::max_pool2d_forward(x, p, &argmax); });
    // Backward bytes: read dy (4 B) and argmax (8 B), write dx (4 B).
    op(net, std::string(name) + " bwd", shape, 0, 12 * out + 4 * in,
       [&] { dx = kernels::max_pool2d_backward(dy, argmax, x_shape, p); });
  }

  void relu(const char* net, const char* name, const Shape& shape) {
    const double n = static_cast<double>(cudanet::shape_numel(shape));
    Tensor x = uniform(shape), dy = uniform(shape), y, dx;
    // Forward: read x, write y (4 B each). Backward: read dy and x, write dx.
    op(net, std::string(name) + " fwd", shape_text(shape), 0, 8 * n,
       [&] { y = kernels::relu_forward(x); });
    op(net, std::string(name) + " bwd", shape_text(shape), 0, 12 * n,
       [&] { dx = kernels::relu_backward(dy, x); });
  }

  // AlexNet's LRN: size 5, alpha 1e-4, beta 0.75, k 2 (layers/models.cc).
  void lrn(const char* net, const char* name, const Shape& shape) {
    const double n = static_cast<double>(cudanet::shape_numel(shape));
    kernels::LrnParams p;
    p.size = 5;
    p.alpha = 1e-4;
    p.beta = 0.75;
    p.k = 2.0;
    Tensor x = uniform(shape), dy = uniform(shape);
    Tensor scale;
    Tensor y = kernels::lrn_forward(x, p, &scale), dx;
    // Forward: read x, write y and scale (4 B each; the window's other channels hit in cache).
    op(net, std::string(name) + " fwd", shape_text(shape), 0, 12 * n,
       [&] { y = kernels::lrn_forward(x, p, &scale); });
    // Backward: read dy, x, y and scale, write dx.
    op(net, std::string(name) + " bwd", shape_text(shape), 0, 20 * n,
       [&] { dx = kernels::lrn_backward(dy, x, y, scale, p); });
  }

  void dropout(const char* net, const char* name, const Shape& shape, double p) {
    const double n = static_cast<double>(cudanet::shape_numel(shape));
    Tensor x = uniform(shape), dy = uniform(shape), dx;
    kernels::DropoutResult fwd = kernels::dropout_forward(x, p, 7, 0);
    std::uint64_t offset = 0;
    // Forward: read x, write y (4 B each) and the uint8 mask (1 B).
    op(net, std::string(name) + " fwd", shape_text(shape) + " p=" + fmt("%.1f", p), 0, 9 * n,
       [&] { fwd = kernels::dropout_forward(x, p, 7, offset++); });
    // Backward: read dy (4 B) and the mask (1 B), write dx (4 B).
    op(net, std::string(name) + " bwd", shape_text(shape) + " p=" + fmt("%.1f", p), 0, 9 * n,
       [&] { dx = kernels::dropout_backward(dy, fwd.mask, p); });
  }

  // Softmax-cross-entropy over [rows, cols] logits and int64 labels. The Tensor-level functions
  // copy the labels to the host to validate them (one small synchronous copy); the "kernel" rows
  // time the launchers alone.
  void softmax_ce(const char* net, const std::int64_t rows, const std::int64_t cols) {
    const double nc = static_cast<double>(rows * cols), nr = static_cast<double>(rows);
    Tensor logits = uniform({rows, cols}, -5, 5);
    std::vector<std::int64_t> host(static_cast<std::size_t>(rows));
    for (std::int64_t i = 0; i < rows; ++i) host[static_cast<std::size_t>(i)] = (i * 7919) % cols;
    Tensor labels = Tensor::from_vector(host, {rows}).to(gpu_);
    Tensor probs, loss, dx;
    loss = kernels::softmax_cross_entropy_forward(logits, labels, &probs);
    dx = kernels::softmax_cross_entropy_backward(probs, labels);
    const std::string shape = shape_text({rows, cols});
    // Forward: read logits (4 B) and labels (8 B per row), write probs (4 B) and the loss.
    const double fwd_bytes = 8 * nc + 8 * nr + 4;
    // Backward: read probs (4 B) and labels, write dx (4 B).
    const double bwd_bytes = 8 * nc + 8 * nr;
    op(net, "softmax-CE fwd", shape, 0, fwd_bytes,
       [&] { loss = kernels::softmax_cross_entropy_forward(logits, labels, &probs); });
    op(net, "softmax-CE bwd", shape, 0, bwd_bytes,
       [&] { dx = kernels::softmax_cross_entropy_backward(probs, labels); });
    const auto* l = labels.data<std::int64_t>();
    op(net, "softmax-CE fwd (kernel)", shape, 0, fwd_bytes, [&] {
      kernels::cuda::softmax_cross_entropy_forward(logits.data_ptr(), l, probs.data_ptr(),
                                                   loss.data_ptr(), rows, cols, DType::kFloat32,
                                                   stream_);
    });
    op(net, "softmax-CE bwd (kernel)", shape, 0, bwd_bytes, [&] {
      kernels::cuda::softmax_cross_entropy_backward(probs.data_ptr(), l, dx.data_ptr(), rows, cols,
                                                    1.0, DType::kFloat32, stream_);
    });
  }

  void optimizers(const char* net, const char* name, const Shape& shape) {
    const double n = static_cast<double>(cudanet::shape_numel(shape));
    Tensor param = uniform(shape), grad = uniform(shape, -1e-3, 1e-3);
    Tensor buf = Tensor::zeros(shape, DType::kFloat32, gpu_);
    Tensor m = Tensor::zeros(shape, DType::kFloat32, gpu_);
    Tensor v = Tensor::zeros(shape, DType::kFloat32, gpu_);
    kernels::SgdParams sgd;
    sgd.lr = 0.01;
    sgd.momentum = 0.9;
    sgd.weight_decay = 5e-4;
    // SGD with momentum: read param, grad and buf, write param and buf (4 B each).
    op(net, std::string("SGD-momentum ") + name, shape_text(shape), 0, 20 * n,
       [&] { kernels::sgd_update(param, grad, &buf, sgd); });
    const kernels::AdamParams adam;
    std::int64_t step = 0;
    // Adam: read param, grad, m and v, write param, m and v.
    op(net, std::string("Adam ") + name, shape_text(shape), 0, 28 * n,
       [&] { kernels::adam_update(param, grad, m, v, adam, ++step); });
  }

  // A linear layer x [batch, in] -> y [batch, out] (cuBLAS, FP32).
  void linear(const char* net, const char* name, std::int64_t in, std::int64_t out) {
    const std::int64_t batch = options_.batch;
    const double n = static_cast<double>(batch), i = static_cast<double>(in),
                 o = static_cast<double>(out);
    Tensor x = uniform({batch, in}), w = uniform({out, in}), b = uniform({out});
    Tensor dy = uniform({batch, out}), y;
    kernels::LinearGrads grads;
    const std::string shape = shape_text({batch, in}) + " -> " + std::to_string(out);
    // Forward: 2 N in out FLOPs; bytes: read x, w, b, write y.
    op(net, std::string(name) + " fwd", shape, 2 * n * i * o, 4 * (n * i + o * i + o + n * o),
       [&] { y = kernels::linear_forward(x, w, &b); });
    // Backward: dx = dy w and dw = dy^T x, 2 N in out FLOPs each (db: N out adds, left out);
    // bytes: read dy, x, w, write dx, dw, db.
    op(net, std::string(name) + " bwd", shape, 4 * n * i * o,
       4 * (n * o + 2 * n * i + 2 * o * i + o),
       [&] { grads = kernels::linear_backward(dy, x, w, true); });
  }

  // ---- output ----------------------------------------------------------------------------------

  void print_warnings() const {
    if (warnings_.empty()) return;
    std::printf("\n## Warnings\n\n");
    for (const std::string& w : warnings_) std::printf("- %s\n", w.c_str());
  }

  void write_json(const std::string& path, const std::string& device) const;

 private:
  bool out_of_time() const {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return s > options_.time_limit_s;
  }

  Tensor uniform(const Shape& shape, double lo = -1, double hi = 1) {
    Tensor t = Tensor::empty(shape, DType::kFloat32, gpu_);
    t.uniform_(lo, hi, gen_);
    return t;
  }

  void warn(const std::string& message) { warnings_.push_back(message); }

  // timer_.measure(f), or, when f throws, a warning and an empty Timing (runs == 0), so that one
  // failing case does not end the program (an error the device keeps fails the later cases too).
  template <typename F>
  Timing try_measure(const std::string& what, F&& f) {
    try {
      return timer_.measure(f, policy_);
    } catch (const std::exception& e) {
      warn(what + " failed: " + e.what());
      return Timing{};
    }
  }

  // max_rel_diff(x, ref), or -1 when either is missing (a case that failed).
  double compare(const std::string& what, const Tensor& x, const Tensor& ref) {
    if (!x.defined() || !ref.defined() || &x == &ref) return -1;
    try {
      return cudanet::bench::max_rel_diff(x, ref);
    } catch (const std::exception& e) {
      warn(what + " comparison failed: " + e.what());
      return -1;
    }
  }

  // Times f as one case of the op table.
  template <typename F>
  void op(const char* net, const std::string& name, const std::string& shape, double flops,
          double bytes, F&& f) {
    OpResult r{net, name, shape, flops, bytes, {}, false};
    if (out_of_time()) {
      r.skipped = true;
    } else {
      r.t = try_measure(std::string(net) + " " + name, f);
    }
    print_op_row(r);
    ops_.push_back(r);
  }

  std::string ratio(const Timing& native, const Timing& ref) const {
    return ref.runs > 0 && native.runs > 0 ? fmt("%.2f", ref.median_ms / native.median_ms) : "-";
  }

  void print_conv_row(const ConvResult& r) const {
    if (r.skipped) {
      std::printf("| %s | %s | %s | %.2f | skipped (time limit) | | | | | | | | |\n", r.net.c_str(),
                  r.layer.c_str(), r.pass.c_str(), r.flops / 1e9);
    } else {
      const auto tflops = [&](const Timing& t) {
        return t.runs > 0 ? fmt("%.2f", r.flops / (t.median_ms * 1e9)) : std::string("-");
      };
      const auto ms = [](const Timing& t) {
        return t.runs > 0 ? fmt("%.3f", t.median_ms) : std::string("-");
      };
      std::printf("| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                  r.net.c_str(), r.layer.c_str(), r.pass.c_str(), r.flops / 1e9,
                  ms(r.implicit).c_str(), tflops(r.implicit).c_str(),
                  ratio(r.implicit, r.cudnn).c_str(), ms(r.im2col).c_str(),
                  tflops(r.im2col).c_str(), ratio(r.im2col, r.cudnn).c_str(), ms(r.cudnn).c_str(),
                  tflops(r.cudnn).c_str(), r.cudnn_algo.empty() ? "-" : r.cudnn_algo.c_str());
    }
    std::fflush(stdout);
  }

  void print_op_row(const OpResult& r) const {
    if (r.skipped) {
      std::printf("| %s | %s | %s | %.2f | skipped (time limit) | | | | | |\n", r.group.c_str(),
                  r.name.c_str(), r.shape.c_str(), r.bytes / 1e6);
    } else if (r.t.runs == 0) {
      std::printf("| %s | %s | %s | %.2f | failed (see warnings) | | | | | |\n", r.group.c_str(),
                  r.name.c_str(), r.shape.c_str(), r.bytes / 1e6);
    } else {
      const double gbps = r.bytes / (r.t.median_ms * 1e6);
      const bool bandwidth_bound = r.flops == 0;
      std::printf("| %s | %s | %s | %.2f | %.4f | %.0f | %s | %s | %s | %d |\n", r.group.c_str(),
                  r.name.c_str(), r.shape.c_str(), r.bytes / 1e6, r.t.median_ms, gbps,
                  bandwidth_bound && copy_gbps_ > 0 ? fmt("%.2f", gbps / copy_gbps_).c_str() : "-",
                  bandwidth_bound ? "-" : fmt("%.4f", r.flops / 1e9).c_str(),
                  bandwidth_bound ? "-" : fmt("%.3f", r.flops / (r.t.median_ms * 1e9)).c_str(),
                  r.t.runs);
    }
    std::fflush(stdout);
  }

  Options options_;
  Device gpu_;
  cudanet::Stream stream_;
  GpuTimer timer_;
  cudanet::Generator gen_;
  std::chrono::steady_clock::time_point start_;
  RunPolicy policy_;
  double copy_gbps_ = 0;
  std::string cudnn_status_;
  bool cudnn_ = false;  // compare with cuDNN
  std::vector<ConvResult> convs_;
  std::vector<OpResult> ops_;
  std::vector<std::string> warnings_;
};

// A JSON number, or null for a value that is not one (no measurement).
std::string json_number(double v) {
  return std::isfinite(v) ? fmt("%.6g", v) : "null";
}

// A JSON string literal of `s` (quotes and backslashes escaped, control characters dropped).
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

void Bench::write_json(const std::string& path, const std::string& device) const {
  std::ofstream os(path);
  if (!os) {
    std::fprintf(stderr, "ops bench: cannot write %s\n", path.c_str());
    return;
  }
  const auto timing = [](const Timing& t) {
    return t.runs > 0 ? "{\"ms\": " + json_number(t.median_ms) +
                            ", \"runs\": " + std::to_string(t.runs) + "}"
                      : std::string("null");
  };
  os << "{\n  \"benchmark\": \"ops\",\n  \"device\": " << json_string(device)
     << ",\n  \"batch\": " << options_.batch << ",\n  \"copy_gbps\": " << json_number(copy_gbps_)
     << ",\n  \"cudnn\": " << json_string(cudnn_status_)
     << ",\n  \"tf32\": false,\n  \"convs\": [\n";
  for (std::size_t i = 0; i < convs_.size(); ++i) {
    const ConvResult& r = convs_[i];
    const auto ratio_json = [](const Timing& native, const Timing& ref) {
      return ref.runs > 0 && native.runs > 0 ? json_number(ref.median_ms / native.median_ms)
                                             : std::string("null");
    };
    os << "    {\"net\": \"" << r.net << "\", \"layer\": \"" << r.layer << "\", \"pass\": \""
       << r.pass << "\", \"shape\": " << json_string(r.shape)
       << ", \"flops\": " << json_number(r.flops)
       << ", \"skipped\": " << (r.skipped ? "true" : "false")
       << ", \"implicit_gemm\": " << timing(r.implicit) << ", \"im2col\": " << timing(r.im2col)
       << ", \"cudnn\": " << timing(r.cudnn) << ", \"cudnn_algo\": \"" << r.cudnn_algo
       << "\", \"implicit_gemm_over_cudnn\": " << ratio_json(r.implicit, r.cudnn)
       << ", \"im2col_over_cudnn\": " << ratio_json(r.im2col, r.cudnn) << ", \"reference\": \""
       << r.reference << "\", \"max_rel_diff_implicit_gemm\": "
       << (r.diff_implicit >= 0 ? json_number(r.diff_implicit) : "null")
       << ", \"max_rel_diff_im2col\": "
       << (r.diff_im2col >= 0 ? json_number(r.diff_im2col) : "null") << "}"
       << (i + 1 < convs_.size() ? "," : "") << "\n";
  }
  os << "  ],\n  \"ops\": [\n";
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    const OpResult& r = ops_[i];
    const bool measured = !r.skipped && r.t.runs > 0;
    const double gbps = measured ? r.bytes / (r.t.median_ms * 1e6) : NAN;
    os << "    {\"net\": \"" << r.group << "\", \"name\": " << json_string(r.name)
       << ", \"shape\": " << json_string(r.shape) << ", \"flops\": " << json_number(r.flops)
       << ", \"min_bytes\": " << json_number(r.bytes)
       << ", \"bound\": " << (r.flops > 0 ? "\"compute\"" : "\"bandwidth\"")
       << ", \"skipped\": " << (r.skipped ? "true" : "false")
       << ", \"time\": " << (measured ? timing(r.t) : "null") << ", \"gbps\": " << json_number(gbps)
       << ", \"fraction_of_copy\": "
       << json_number(r.flops == 0 && copy_gbps_ > 0 ? gbps / copy_gbps_ : NAN) << ", \"tflops\": "
       << json_number(measured && r.flops > 0 ? r.flops / (r.t.median_ms * 1e9) : NAN) << "}"
       << (i + 1 < ops_.size() ? "," : "") << "\n";
  }
  os << "  ],\n  \"warnings\": [";
  for (std::size_t i = 0; i < warnings_.size(); ++i) {
    os << (i ? ", " : "") << json_string(warnings_[i]);
  }
  os << "]\n}\n";
  std::printf("\nwrote %s\n", path.c_str());
}

// The seed's AlexNet (layers/models.cc) and LeNet-5.
std::vector<ConvShape> conv_shapes() {
  const auto params = [](std::int64_t stride, std::int64_t pad) {
    kernels::Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    return p;
  };
  return {
      {"AlexNet", "conv1", 3, 227, 227, 96, 11, 11, params(4, 0)},
      {"AlexNet", "conv2", 96, 27, 27, 256, 5, 5, params(1, 2)},
      {"AlexNet", "conv3", 256, 13, 13, 384, 3, 3, params(1, 1)},
      {"AlexNet", "conv4", 384, 13, 13, 384, 3, 3, params(1, 1)},
      {"AlexNet", "conv5", 384, 13, 13, 256, 3, 3, params(1, 1)},
      {"LeNet-5", "c1", 1, 28, 28, 6, 5, 5, params(1, 2)},
      {"LeNet-5", "c3", 6, 14, 14, 16, 5, 5, params(1, 0)},
      {"LeNet-5", "c5", 16, 5, 5, 120, 5, 5, params(1, 0)},
  };
}

int run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--json" && has_value) {
      o.json = argv[++i];
    } else if (arg == "--min-runs" && has_value) {
      o.min_runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--budget-ms" && has_value) {
      o.budget_ms = std::max(0.0, std::atof(argv[++i]));
    } else if (arg == "--time-limit" && has_value) {
      o.time_limit_s = std::max(0.0, std::atof(argv[++i]));
    } else if (arg == "--no-cudnn") {
      o.cudnn = false;
    } else if (arg == "--batch" && has_value) {
      o.batch = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--nets" && has_value) {
      const std::string nets = std::string(",") + argv[++i] + ",";
      o.alexnet = nets.find(",alexnet,") != std::string::npos;
      o.lenet5 = nets.find(",lenet5,") != std::string::npos;
      if (!o.alexnet && !o.lenet5) {
        std::fprintf(stderr, "ops bench: --nets takes alexnet, lenet5 or both, got '%s'\n",
                     argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--json PATH] [--min-runs N] [--budget-ms MS] [--time-limit S] "
                   "[--no-cudnn] [--batch N] [--nets alexnet,lenet5]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!cudanet::cuda::is_available()) {
    std::printf("ops bench: skipped, no GPU (%s)\n", cudanet::cuda::unavailable_reason().c_str());
    return 0;
  }
  const auto props = cudanet::cuda::properties(0);
  kernels::set_allow_tf32(false);
  Bench bench(o);

  std::printf("# kernels/ ops on AlexNet and LeNet-5 layer shapes (batch %lld) on %s (%d SMs)\n\n",
              static_cast<long long>(o.batch), props.name.c_str(), props.multiprocessors);
  std::printf(
      "Tensor-level entry points, FP32; median of >= %d runs (up to 100 within ~%.0f ms per case) "
      "after 3 warm-up calls, L2 flushed before each run; deterministic mode %s; %s.\n\n",
      o.min_runs, o.budget_ms, kernels::deterministic() ? "on" : "off",
      bench.cudnn_status().c_str());
  bench.measure_copy_bandwidth();

  std::printf("## Convolution (native/cuDNN = cuDNN ms / native ms; target >= 0.5)\n\n");
  bench.print_conv_header();
  for (const ConvShape& s : conv_shapes()) {
    if (std::string(s.net) == "AlexNet" ? o.alexnet : o.lenet5) bench.conv(s);
  }

  std::printf(
      "\n## Other ops (of D2D copy = GB/s / copy GB/s for bandwidth-bound ops; target >= 0.7)\n\n");
  bench.print_op_header();
  const std::int64_t n = o.batch;
  if (o.alexnet) {
    const Shape conv1_out = {n, 96, 55, 55};
    bench.max_pool("AlexNet", "pool1 max 3/2", conv1_out, 3, 2);
    bench.max_pool("AlexNet", "pool2 max 3/2", {n, 256, 27, 27}, 3, 2);
    bench.max_pool("AlexNet", "pool5 max 3/2", {n, 256, 13, 13}, 3, 2);
    bench.relu("AlexNet", "relu1", conv1_out);
    bench.lrn("AlexNet", "lrn1", conv1_out);
    bench.dropout("AlexNet", "drop6", {n, 4096}, 0.5);
    bench.softmax_ce("AlexNet", n, 1000);
    bench.optimizers("AlexNet", "fc6.weight", {4096, 9216});
  }
  if (o.lenet5) {
    bench.max_pool("LeNet-5", "s2 max 2/2", {n, 6, 28, 28}, 2, 2);
    bench.max_pool("LeNet-5", "s4 max 2/2", {n, 16, 10, 10}, 2, 2);
    bench.relu("LeNet-5", "relu1", {n, 6, 28, 28});
    bench.linear("LeNet-5", "f6", 120, 84);
    bench.linear("LeNet-5", "output", 84, 10);
    bench.softmax_ce("LeNet-5", n, 10);
  }
  bench.print_warnings();
  if (!o.json.empty()) bench.write_json(o.json, props.name);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ops bench: %s\n", e.what());
    return 1;
  }
}
