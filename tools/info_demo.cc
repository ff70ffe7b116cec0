// `cudanet info` and `cudanet demo`.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/version.h"
#include "kernels/cudnn.h"
#include "tools/commands.h"

namespace cudanet::tools {

namespace {

struct DemoOptions {
  bool help = false;
  std::int64_t n = 1 << 20;
  std::uint64_t seed = 42;
};

std::int64_t parse_int(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  CUDANET_THROW(ValueError, flag, " expects a positive integer, got '", text, "'");
}

DemoOptions parse_demo(const std::vector<std::string>& args) {
  DemoOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const auto value = [&]() -> const std::string& {
      CUDANET_CHECK(i + 1 < args.size(), ValueError, a, " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: cudanet demo [--n N] [--seed S]\n"
          "  --n N      number of random values to draw (default 1048576)\n"
          "  --seed S   Philox seed (default 42)\n");
      o.help = true;
      return o;
    } else if (a == "--n") {
      o.n = parse_int(a, value());
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_int(a, value()));
    } else {
      CUDANET_THROW(ValueError, "unknown option '", a, "' (see cudanet demo --help)");
    }
  }
  return o;
}

void moments(const std::vector<float>& v, double* mean, double* stddev) {
  double s = 0, s2 = 0;
  for (float x : v) s += x;
  *mean = s / static_cast<double>(v.size());
  for (float x : v) s2 += (x - *mean) * (x - *mean);
  *stddev = std::sqrt(s2 / static_cast<double>(v.size()));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int check_info(const std::vector<std::string>& args) {
  CUDANET_CHECK(args.empty(), ValueError, "info takes no arguments, got '", args.front(), "'");
  return 0;
}

int check_demo(const std::vector<std::string>& args) {
  parse_demo(args);
  return 0;
}

int run_info(const std::vector<std::string>& args) {
  check_info(args);
  std::printf("%s\n", build_info().c_str());
  if (kernels::cudnn::available()) {
    std::printf("cuDNN %s (convolution algorithms: %s)\n", kernels::cudnn::version().c_str(),
                kernels::cudnn::benchmark() ? "timed once per shape" : "heuristics");
  }
  const int n = cuda::device_count();
  if (n == 0) std::printf("GPUs: none (%s)\n", cuda::unavailable_reason().c_str());
  for (int i = 0; i < n; ++i) {
    const cuda::DeviceProperties p = cuda::properties(i);
    std::printf("GPU %d: %s, sm_%d%d, %d SMs, %.1f GiB\n", i, p.name.c_str(), p.major, p.minor,
                p.multiprocessors, static_cast<double>(p.total_memory) / (1 << 30));
  }
  return 0;
}

int run_demo(const std::vector<std::string>& args) {
  const DemoOptions o = parse_demo(args);
  if (o.help) return 0;
  std::printf("== tensors and views\n");
  Generator view_gen(o.seed);
  Tensor x = Tensor::empty({2, 3, 4});
  x.uniform_(-1.0, 1.0, view_gen);
  std::cout << "x.narrow(2, 0, 2) = " << x.narrow(2, 0, 2) << "\n";
  std::cout << "x.flatten(1).shape = " << shape_str(x.flatten(1).shape()) << "\n";

  std::printf("\n== Philox normal draws (seed %llu, %lld values)\n",
              static_cast<unsigned long long>(o.seed), static_cast<long long>(o.n));
  Generator cpu_gen(o.seed);
  auto t0 = std::chrono::steady_clock::now();
  Tensor cpu = Tensor::empty({o.n});
  cpu.normal_(0.0, 1.0, cpu_gen);
  const double cpu_s = seconds_since(t0);
  const std::vector<float> cpu_values = cpu.to_vector<float>();
  double mean = 0, stddev = 0;
  moments(cpu_values, &mean, &stddev);
  std::printf("cpu : mean %+.5f  std %.5f  (%.1f M values/s)\n", mean, stddev,
              static_cast<double>(o.n) / cpu_s / 1e6);

  if (!cuda::is_available()) {
    std::printf("gpu : skipped (%s)\n", cuda::unavailable_reason().c_str());
    return 0;
  }
  Generator gpu_gen(o.seed);
  Tensor gpu = Tensor::empty({o.n}, DType::kFloat32, Device::cuda(0));
  gpu.normal_(0.0, 1.0, gpu_gen);
  const std::vector<float> gpu_values = gpu.to_vector<float>();
  const bool same =
      std::memcmp(gpu_values.data(), cpu_values.data(), cpu_values.size() * sizeof(float)) == 0;
  std::printf("gpu : the same %lld values bit for bit: %s\n", static_cast<long long>(o.n),
              same ? "yes" : "NO");

  std::printf("\n== copies: host -> device (pinned, asynchronous) -> host\n");
  Tensor back = cpu.to(Device::cuda(0), /*non_blocking=*/true).to(Device::cpu());
  const bool round_trip = back.to_vector<float>() == cpu_values;
  std::printf("round trip exact: %s\n", round_trip ? "yes" : "NO");

  std::printf("\n== caching allocator (device 0)\n%s", cuda::memory_summary(0).c_str());
  return same && round_trip ? 0 : 1;
}

}  // namespace cudanet::tools
