// Dropout with inverted scaling, its mask drawn from Philox so CPU and GPU masks are identical.
//
//   keep_i = bernoulli(seed, offset, i, 1 - p)      (core/philox.h)
//          = uniform_float(seed, offset, i) < 1 - p  (1 - p computed in double)
//   mask_i = keep_i ? 1 : 0                           (uint8)
//   y_i    = keep_i ? x_i * scale : 0,                scale = T(1 / (1 - p)) (computed in double)
//   dx_i   = mask_i ? dy_i * scale : 0
//
// Since keep_i is a pure function of (seed, offset, i), the backward can also regenerate it
// instead of reading a stored mask: dropout_backward(dy, p, seed, offset) returns the same dx, bit
// for bit, as dropout_backward(dy, mask, p) with the mask of dropout_forward(x, p, seed, offset).
// A layer then keeps (seed, offset, p) — 16 bytes — instead of one byte per element, and the
// forward may skip the mask (store_mask = false; DropoutResult::mask is undefined then).
//
// So the mask is the one Tensor::bernoulli_(1 - p) would draw with the same (seed, offset), for
// any dtype, on either device: element i depends only on (seed, offset, i). The keep probability
// is 1 - p rounded up to a multiple of 2^-24. p must lie in [0, 1); p = 0 keeps everything
// (y = x). A draw reads ceil(n / 4) Philox counters: the Generator overload advances its
// generator by philox_counters(DType::kFloat32, n) (also for p = 0 and for float64 tensors), so
// consecutive calls never reuse random numbers.
//
// Note: CPU and GPU agree bitwise on the mask and, since y is one rounded multiplication, on y and
// dx as well.
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace cudanet::kernels {

struct DropoutResult {
  Tensor y;
  Tensor mask;  // uint8, shaped like x: 1 kept, 0 dropped (undefined when not stored)
  std::uint64_t seed = 0, offset = 0;  // the draw's Philox stream, for the regenerating backward
  // In a captured CUDA graph, the device slot whose value the kernel added to `offset` when it
  // ran (see DropoutReplayShifts); the regenerating backward must add the same. Else null.
  const std::uint64_t* offset_shift = nullptr;
};

// ---- Tensor level: x of any shape, contiguous, float32 or float64 ----
DropoutResult dropout_forward(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset,
                              bool store_mask = true);
DropoutResult dropout_forward(const Tensor& x, double p, Generator& generator,
                              bool store_mask = true);
Tensor dropout_backward(const Tensor& dy, const Tensor& mask, double p);
// The backward from the forward's (seed, offset, offset_shift): keep_i regenerated, no mask read.
Tensor dropout_backward(const Tensor& dy, double p, std::uint64_t seed, std::uint64_t offset,
                        const std::uint64_t* offset_shift = nullptr);

// ---- Fresh masks in replayed CUDA graphs ----
// A captured dropout launch keeps its (seed, offset) as constants, so every replay of the graph
// would draw the same mask. While a DropoutReplayShifts is installed on the calling thread
// (train::TrainStep installs one while it captures a step), each Generator-based draw on a CUDA
// tensor also reads a shift from device memory (one slot per generator) and adds it to its
// offset when the kernel runs. Before each replay, prepare_replay() sets every slot to the
// generator's offset now minus its offset when the capture began, and advances the generator by
// what one step draws, as an eager step would: a replayed step then draws exactly the masks the
// same step run eagerly would (so eager and graph training agree, and checkpoints hold the same
// generator state). The generators must outlive the capture's graph.
class DropoutReplayShifts {
 public:
  static constexpr int kMaxGenerators = 8;

  // The slots, in memory of `device` (a CPU device serves the tests of the bookkeeping).
  explicit DropoutReplayShifts(Device device);
  // Forgets the generators of an earlier capture.
  void begin_capture();
  // During a capture, from dropout_forward(x, p, generator): `drawn` is what generator.advance
  // returned for `counters` counters. Returns the device slot the launch reads its shift from.
  // Throws ValueError when more than kMaxGenerators generators draw in one capture.
  const std::uint64_t* record(Generator& generator, const GeneratorState& drawn,
                              std::uint64_t counters);
  // False when a recorded generator's seed changed since the capture: the captured seeds are
  // stale and the graph must be captured again.
  bool seeds_unchanged() const;
  // Before a replay: writes the slots (queued on the current stream of the slots' device, the
  // values passed by value) and, unless this is the replay right after the capture (whose draws
  // the capture already reserved), advances each generator by its draws per step.
  void prepare_replay(bool first_after_capture);
  int generators() const { return static_cast<int>(entries_.size()); }
  const Tensor& slots() const { return slots_; }

 private:
  struct Entry {
    Generator* generator;
    std::uint64_t seed, start, per_step;
  };
  Tensor slots_;  // [kMaxGenerators] of int64 storage, used as uint64
  std::vector<Entry> entries_;
};

// Installs `shifts` for this thread's Generator-based dropout draws on CUDA tensors (nullptr:
// none); returns the one installed before.
DropoutReplayShifts* set_dropout_replay_shifts(DropoutReplayShifts* shifts);

namespace cpu {
// The reference, instantiated for float and double: n elements, scale = T(1 / (1 - p)).
// `mask` may be null in the forward (nothing is stored then).
template <typename T>
void dropout_forward(const T* x, T* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     T scale, std::uint64_t seed, std::uint64_t offset);
template <typename T>
void dropout_backward(const T* dy, const std::uint8_t* mask, T* dx, std::int64_t n, T scale);
// The backward with keep_i regenerated from (seed, offset).
template <typename T>
void dropout_backward(const T* dy, T* dx, std::int64_t n, double keep_prob, T scale,
                      std::uint64_t seed, std::uint64_t offset);
}  // namespace cpu

namespace cuda {
// Device pointers on stream.device(); work queued on `stream`. dtype: float32 or float64;
// scale is converted to it. `mask` may be null in the forward. A non-null `offset_shift` (device
// memory) is read when the kernel runs and added to `offset`.
void dropout_forward(const void* x, void* y, std::uint8_t* mask, std::int64_t n, double keep_prob,
                     double scale, std::uint64_t seed, std::uint64_t offset, DType dtype,
                     const Stream& stream, const std::uint64_t* offset_shift = nullptr);
// dst[i] = values[i] for i < n <= DropoutReplayShifts::kMaxGenerators, queued on `stream`; the
// values travel as kernel arguments, so `values` need not outlive the call.
void write_replay_shifts(std::uint64_t* dst, const std::uint64_t* values, int n,
                         const Stream& stream);
void dropout_backward(const void* dy, const std::uint8_t* mask, void* dx, std::int64_t n,
                      double scale, DType dtype, const Stream& stream);
void dropout_backward(const void* dy, void* dx, std::int64_t n, double keep_prob, double scale,
                      std::uint64_t seed, std::uint64_t offset, DType dtype, const Stream& stream,
                      const std::uint64_t* offset_shift = nullptr);
}  // namespace cuda

}  // namespace cudanet::kernels
