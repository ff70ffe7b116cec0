// Dropout: argument checks and device dispatch (see kernels/dropout.h).
#include "kernels/dropout.h"

#include <algorithm>
#include <cmath>

#include "core/config.h"
#include "kernels/common.h"

namespace cudanet::kernels {

namespace {

void check_p(double p, const char* op) {
  CUDANET_CHECK(p >= 0.0 && p < 1.0, ValueError, op, ": p must be in [0, 1), got ", p);
}

thread_local DropoutReplayShifts* t_replay_shifts = nullptr;

DropoutResult forward_impl(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset,
                           const std::uint64_t* offset_shift, bool store_mask) {
  constexpr const char* kOp = "dropout_forward";
  check_p(p, kOp);
  check_float_input(x, kOp, "x");
  const double keep_prob = 1.0 - p;
  const double scale = 1.0 / keep_prob;
  DropoutResult r{Tensor::empty(x.shape(), x.dtype(), x.device()),
                  store_mask ? Tensor::empty(x.shape(), DType::kUInt8, x.device()) : Tensor(), seed,
                  offset, offset_shift};
  std::uint8_t* mask = store_mask ? r.mask.data<std::uint8_t>() : nullptr;
  if (x.device().is_cpu()) {
    if (x.dtype() == DType::kFloat32) {
      cpu::dropout_forward<float>(x.data<float>(), r.y.data<float>(), mask, x.numel(), keep_prob,
                                  static_cast<float>(scale), seed, offset);
    } else {
      cpu::dropout_forward<double>(x.data<double>(), r.y.data<double>(), mask, x.numel(), keep_prob,
                                   scale, seed, offset);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_forward(x.data_ptr(), r.y.data_ptr(), mask, x.numel(), keep_prob, scale, seed,
                          offset, x.dtype(), current_stream(x.device()), offset_shift);
#else
    (void)offset_shift;
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return r;
}

}  // namespace

DropoutResult dropout_forward(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset,
                              bool store_mask) {
  return forward_impl(x, p, seed, offset, nullptr, store_mask);
}

DropoutResult dropout_forward(const Tensor& x, double p, Generator& generator, bool store_mask) {
  // Check before advancing, so a rejected call leaves the generator alone.
  check_p(p, "dropout_forward");
  check_float_input(x, "dropout_forward", "x");
  const std::uint64_t counters = philox_counters(DType::kFloat32, x.numel());
  const GeneratorState s = generator.advance(counters);
  const std::uint64_t* shift = nullptr;
  if (t_replay_shifts != nullptr && x.device().is_cuda()) {
    shift = t_replay_shifts->record(generator, s, counters);
  }
  return forward_impl(x, p, s.seed, s.offset, shift, store_mask);
}

DropoutReplayShifts* set_dropout_replay_shifts(DropoutReplayShifts* shifts) {
  DropoutReplayShifts* previous = t_replay_shifts;
  t_replay_shifts = shifts;
  return previous;
}

DropoutReplayShifts::DropoutReplayShifts(Device device)
    : slots_(Tensor::zeros({kMaxGenerators}, DType::kInt64, device)) {}

void DropoutReplayShifts::begin_capture() {
  entries_.clear();
}

const std::uint64_t* DropoutReplayShifts::record(Generator& generator, const GeneratorState& drawn,
                                                 std::uint64_t counters) {
  std::size_t i = 0;
  while (i < entries_.size() && entries_[i].generator != &generator) ++i;
  if (i == entries_.size()) {
    CUDANET_CHECK(entries_.size() < static_cast<std::size_t>(kMaxGenerators), ValueError,
                  "dropout in a CUDA graph: more than ", kMaxGenerators,
                  " generators draw in one captured step");
    entries_.push_back({&generator, drawn.seed, drawn.offset, 0});
  }
  entries_[i].per_step += counters;
  return static_cast<std::uint64_t*>(slots_.data_ptr()) + i;
}

bool DropoutReplayShifts::seeds_unchanged() const {
  for (const Entry& e : entries_) {
    if (e.generator->seed() != e.seed) return false;
  }
  return true;
}

void DropoutReplayShifts::prepare_replay(bool first_after_capture) {
  if (entries_.empty()) return;
  std::uint64_t values[kMaxGenerators] = {};
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    // Modulo 2^64, so a generator moved back (set_state) still gets its exact offset.
    if (!first_after_capture) values[i] = e.generator->advance(e.per_step).offset - e.start;
  }
  const int n = static_cast<int>(entries_.size());
  if (slots_.device().is_cpu()) {
    std::copy(values, values + n, static_cast<std::uint64_t*>(slots_.data_ptr()));
  } else {
#if CUDANET_WITH_CUDA
    cuda::write_replay_shifts(static_cast<std::uint64_t*>(slots_.data_ptr()), values, n,
                              current_stream(slots_.device()));
#endif
  }
}

Tensor dropout_backward(const Tensor& dy, const Tensor& mask, double p) {
  constexpr const char* kOp = "dropout_backward";
  check_p(p, kOp);
  check_float_input(dy, kOp, "dy");
  CUDANET_CHECK(mask.defined(), ValueError, kOp, ": mask is undefined");
  CUDANET_CHECK(mask.dtype() == DType::kUInt8, ValueError, kOp, ": mask has dtype ", mask.dtype(),
                "; uint8 is needed");
  CUDANET_CHECK(mask.is_contiguous(), ValueError, kOp, ": mask is not contiguous");
  CUDANET_CHECK(mask.device() == dy.device(), ValueError, kOp, ": tensors on different devices (",
                dy.device(), " and ", mask.device(), ")");
  check_shape(mask, dy.shape(), kOp, "mask");
  const double scale = 1.0 / (1.0 - p);
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    if (dy.dtype() == DType::kFloat32) {
      cpu::dropout_backward<float>(dy.data<float>(), mask.data<std::uint8_t>(), dx.data<float>(),
                                   dy.numel(), static_cast<float>(scale));
    } else {
      cpu::dropout_backward<double>(dy.data<double>(), mask.data<std::uint8_t>(), dx.data<double>(),
                                    dy.numel(), scale);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_backward(dy.data_ptr(), mask.data<std::uint8_t>(), dx.data_ptr(), dy.numel(),
                           scale, dy.dtype(), current_stream(dy.device()));
#else
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

Tensor dropout_backward(const Tensor& dy, double p, std::uint64_t seed, std::uint64_t offset,
                        const std::uint64_t* offset_shift) {
  constexpr const char* kOp = "dropout_backward";
  check_p(p, kOp);
  check_float_input(dy, kOp, "dy");
  const double keep_prob = 1.0 - p;
  const double scale = 1.0 / keep_prob;
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  if (dy.device().is_cpu()) {
    CUDANET_CHECK(offset_shift == nullptr, ValueError, kOp,
                  ": an offset shift in device memory needs a CUDA tensor");
    if (dy.dtype() == DType::kFloat32) {
      cpu::dropout_backward<float>(dy.data<float>(), dx.data<float>(), dy.numel(), keep_prob,
                                   static_cast<float>(scale), seed, offset);
    } else {
      cpu::dropout_backward<double>(dy.data<double>(), dx.data<double>(), dy.numel(), keep_prob,
                                    scale, seed, offset);
    }
  } else {
#if CUDANET_WITH_CUDA
    cuda::dropout_backward(dy.data_ptr(), dx.data_ptr(), dy.numel(), keep_prob, scale, seed, offset,
                           dy.dtype(), current_stream(dy.device()), offset_shift);
#else
    (void)offset_shift;
    CUDANET_THROW(CudaError, kOp, ": this cudanet was built without CUDA");
#endif
  }
  return dx;
}

}  // namespace cudanet::kernels
