// GPU benchmark of GEMM: the hand-written SGEMM (sgemm_tiled_kernel) against cuBLAS FP32 with
// TF32 off, at 4096^3 and at AlexNet's fully connected layers (batch 128; forward, backward-data
// and backward-weight products).
//
//   cudanet_gpu_bench_gemm [--runs N] [--warmup N] [--json PATH] [--scale D]
//
// --scale D divides every dimension by D (default 1), for smoke runs: the emulated build runs
// `--scale 32 --runs 1 --warmup 0` as a test (bench/kernels/CMakeLists.txt); the case names keep
// the full-size labels, the M x N x K column shows what ran.
//
// Timing: CUDA events around each GEMM on the current stream; before every timed run the L2
// cache is flushed by a memset of a buffer larger than it (at least 256 MiB), and the memset also
// hides the host's launch overhead. Reported: the median of the runs, TFLOP/s = 2 M N K / t, and
// native / cuBLAS = cuBLAS time / native time (1.0 means parity; the target is >= 0.7 at 4096^3).
// Each case lists its FLOP count and its minimum DRAM traffic (A, B and C once each).
// Without a GPU it says why and exits 0.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/kernels/gpu_timer.h"
#include "core/cuda_runtime.h"
#include "core/random.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/gemm.h"

namespace {

using cudanet::Device;
using cudanet::DType;
using cudanet::Tensor;
using cudanet::bench::GpuTimer;
using cudanet::bench::max_rel_diff;
using cudanet::kernels::GemmBackend;

struct Case {
  const char* name;
  std::int64_t m, n, k;
  bool trans_a, trans_b;
};

struct Result {
  Case c;
  double native_ms = 0, cublas_ms = 0, max_rel_diff = 0;
};

double flops(const Case& c) {
  return 2.0 * c.m * c.n * c.k;
}
double min_bytes(const Case& c) {
  return 4.0 * (c.m * c.k + c.k * c.n + c.m * c.n);
}

// AlexNet's fully connected layers at batch 128: y = x w^T (forward), dx = dy w, dw = dy^T x.
// Every dimension divided by `scale`.
std::vector<Case> cases(std::int64_t scale) {
  std::vector<Case> out = {{"square 4096^3 (NN)", 4096, 4096, 4096, false, false}};
  struct Fc {
    std::int64_t in, out;
  };
  static const std::string names[] = {"fc6 fwd 128x9216->4096", "fc6 bwd-data", "fc6 bwd-weight",
                                      "fc7 fwd 128x4096->4096", "fc7 bwd-data", "fc7 bwd-weight",
                                      "fc8 fwd 128x4096->1000", "fc8 bwd-data", "fc8 bwd-weight"};
  const Fc fcs[] = {{9216, 4096}, {4096, 4096}, {4096, 1000}};
  const std::int64_t batch = 128;
  for (int i = 0; i < 3; ++i) {
    const Fc& f = fcs[i];
    out.push_back({names[3 * i].c_str(), batch, f.out, f.in, false, true});       // x w^T
    out.push_back({names[3 * i + 1].c_str(), batch, f.in, f.out, false, false});  // dy w
    out.push_back({names[3 * i + 2].c_str(), f.out, f.in, batch, true, false});   // dy^T x
  }
  for (Case& c : out) {
    c.m = std::max<std::int64_t>(1, c.m / scale);
    c.n = std::max<std::int64_t>(1, c.n / scale);
    c.k = std::max<std::int64_t>(1, c.k / scale);
  }
  return out;
}

void write_json(const std::string& path, const std::string& device, int runs,
                const std::vector<Result>& results) {
  std::ofstream os(path);
  if (!os) {
    std::fprintf(stderr, "gemm bench: cannot write %s\n", path.c_str());
    return;
  }
  os << "{\n  \"benchmark\": \"gemm\",\n  \"device\": \"" << device << "\",\n  \"runs\": " << runs
     << ",\n  \"tf32\": false,\n  \"cases\": [\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const double f = flops(r.c);
    os << "    {\"name\": \"" << r.c.name << "\", \"m\": " << r.c.m << ", \"n\": " << r.c.n
       << ", \"k\": " << r.c.k << ", \"trans_a\": " << (r.c.trans_a ? "true" : "false")
       << ", \"trans_b\": " << (r.c.trans_b ? "true" : "false") << ", \"flops\": " << f
       << ", \"min_bytes\": " << min_bytes(r.c) << ", \"native_ms\": " << r.native_ms
       << ", \"native_tflops\": " << f / (r.native_ms * 1e9) << ", \"cublas_ms\": " << r.cublas_ms
       << ", \"cublas_tflops\": " << f / (r.cublas_ms * 1e9)
       << ", \"native_over_cublas\": " << r.cublas_ms / r.native_ms
       << ", \"max_rel_diff\": " << r.max_rel_diff << "}" << (i + 1 < results.size() ? "," : "")
       << "\n";
  }
  os << "  ]\n}\n";
  std::printf("wrote %s\n", path.c_str());
}

int run(int argc, char** argv) {
  int runs = 25, warmup = 5;
  std::int64_t scale = 1;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--warmup" && i + 1 < argc) {
      warmup = std::max(0, std::atoi(argv[++i]));
    } else if (arg == "--scale" && i + 1 < argc) {
      scale = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--runs N] [--warmup N] [--json PATH] [--scale D]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!cudanet::cuda::is_available()) {
    std::printf("gemm bench: skipped, no GPU (%s)\n", cudanet::cuda::unavailable_reason().c_str());
    return 0;
  }
  const Device gpu = Device::cuda(0);
  const auto props = cudanet::cuda::properties(0);
  cudanet::kernels::set_allow_tf32(false);
  const cudanet::Stream stream = cudanet::current_stream(gpu);
  GpuTimer timer(stream);
  cudanet::Generator gen(2024);

  std::printf("# GEMM: hand-written SGEMM vs cuBLAS FP32 (TF32 off) on %s (%d SMs)\n\n",
              props.name.c_str(), props.multiprocessors);
  std::printf("median of %d runs after %d warm-up runs, L2 flushed before each run\n\n", runs,
              warmup);
  std::printf(
      "| case | M x N x K | op | GFLOP | min MB | native ms | native TFLOP/s | cuBLAS ms | "
      "cuBLAS TFLOP/s | native/cuBLAS |\n|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<Result> results;
  for (const Case& c : cases(scale)) {
    Tensor a = Tensor::empty(c.trans_a ? cudanet::Shape{c.k, c.m} : cudanet::Shape{c.m, c.k},
                             DType::kFloat32, gpu);
    Tensor b = Tensor::empty(c.trans_b ? cudanet::Shape{c.n, c.k} : cudanet::Shape{c.k, c.n},
                             DType::kFloat32, gpu);
    a.uniform_(-1.0, 1.0, gen);
    b.uniform_(-1.0, 1.0, gen);
    Tensor c_native = Tensor::empty({c.m, c.n}, DType::kFloat32, gpu);
    Tensor c_cublas = Tensor::empty({c.m, c.n}, DType::kFloat32, gpu);
    Result r{c};
    r.native_ms = timer.median_ms(
        [&] {
          cudanet::kernels::gemm(a, c.trans_a, b, c.trans_b, c_native, 1, 0, GemmBackend::kNative);
        },
        warmup, runs);
    r.cublas_ms = timer.median_ms(
        [&] {
          cudanet::kernels::gemm(a, c.trans_a, b, c.trans_b, c_cublas, 1, 0, GemmBackend::kCublas);
        },
        warmup, runs);
    r.max_rel_diff = max_rel_diff(c_native, c_cublas);
    const double f = flops(c);
    std::printf(
        "| %s | %lld x %lld x %lld | %s%s | %.2f | %.1f | %.3f | %.2f | %.3f | %.2f | %.2f |\n",
        c.name, static_cast<long long>(c.m), static_cast<long long>(c.n),
        static_cast<long long>(c.k), c.trans_a ? "T" : "N", c.trans_b ? "T" : "N", f / 1e9,
        min_bytes(c) / 1e6, r.native_ms, f / (r.native_ms * 1e9), r.cublas_ms,
        f / (r.cublas_ms * 1e9), r.cublas_ms / r.native_ms);
    std::fflush(stdout);
    if (r.max_rel_diff > 1e-4) {
      std::printf("WARNING: %s: native and cuBLAS differ by %.3g (relative to max |C|)\n", c.name,
                  r.max_rel_diff);
    }
    results.push_back(r);
  }
  if (!json.empty()) write_json(json, props.name, runs, results);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemm bench: %s\n", e.what());
    return 1;
  }
}
