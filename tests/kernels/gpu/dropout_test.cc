// Dropout on the GPU: the mask equals the CPU's bit for bit for the same (seed, offset), and so do
// y and dx (one rounded multiplication each). Outputs are poisoned first; aligned (vector) and
// misaligned (scalar) paths, odd sizes and an offset whose counters carry past 2^64.
#include "kernels/dropout.h"

#include <gtest/gtest.h>
#include <vector>

#include "core/random.h"
#include "core/stream.h"
#include "tensor_testing.h"
#include "test_util.h"

namespace cudanet::kernels {
namespace {

using testing::all_equal;

constexpr Device kGpu = Device::cuda(0);

TEST(DropoutGpu, MaskAndOutputsEqualTheCpuBitForBit) {
  CUDANET_REQUIRE_GPU();
  const std::vector<std::int64_t> sizes = {1, 3, 507, (1 << 20) + 3};
  const std::vector<std::uint64_t> offsets = {0, 5, ~std::uint64_t{0} - 2};  // the last carries
  std::uint64_t seed = 1;
  for (std::int64_t n : sizes) {
    for (std::uint64_t offset : offsets) {
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        for (double p : {0.0, 0.5, 0.9}) {
          if (n > 100000 && p != 0.5) continue;  // keep the CPU reference's time down
          SCOPED_TRACE(::testing::Message()
                       << "n " << n << " offset " << offset << " " << dtype << " p " << p);
          const Tensor x = testing::random_tensor({n}, dtype, seed++, -4, 4);
          const Tensor dy = testing::random_tensor({n}, dtype, seed++);
          const DropoutResult ref = dropout_forward(x, p, 0xC0FFEE + seed, offset);
          const Tensor dx_ref = dropout_backward(dy, ref.mask, p);

          const Tensor xd = x.to(kGpu), dyd = dy.to(kGpu);
          Tensor y = Tensor::empty({n}, dtype, kGpu),
                 mask = Tensor::empty({n}, DType::kUInt8, kGpu);
          testing::poison(y);
          mask.fill_(7);
          cuda::dropout_forward(xd.data_ptr(), y.data_ptr(), mask.data<std::uint8_t>(), n, 1 - p,
                                1 / (1 - p), 0xC0FFEE + seed, offset, dtype, current_stream(kGpu));
          EXPECT_EQ(mask.to_vector<std::uint8_t>(), ref.mask.to_vector<std::uint8_t>());
          EXPECT_TRUE(all_equal(y, ref.y));
          Tensor dx = Tensor::empty({n}, dtype, kGpu);
          testing::poison(dx);
          cuda::dropout_backward(dyd.data_ptr(), mask.data<std::uint8_t>(), dx.data_ptr(), n,
                                 1 / (1 - p), dtype, current_stream(kGpu));
          EXPECT_TRUE(all_equal(dx, dx_ref));

          const DropoutResult t = dropout_forward(xd, p, 0xC0FFEE + seed, offset);
          EXPECT_EQ(t.mask.to_vector<std::uint8_t>(), ref.mask.to_vector<std::uint8_t>());
          EXPECT_TRUE(all_equal(t.y, ref.y));
          EXPECT_TRUE(all_equal(dropout_backward(dyd, t.mask, p), dx_ref));
        }
      }
    }
  }
}

TEST(DropoutGpu, MisalignedPointersGiveTheSameMask) {
  CUDANET_REQUIRE_GPU();
  const std::int64_t n = 1029;
  const double p = 0.4;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor x = testing::random_tensor({n}, dtype, 60);
    const Tensor xd = x.to(kGpu);
    const std::size_t es = element_size(dtype);
    Tensor y = Tensor::empty({n}, dtype, kGpu), mask = Tensor::empty({n}, DType::kUInt8, kGpu);
    testing::poison(y);
    mask.fill_(7);
    // Elements 1..n-1: element i of this draw reads Philox lane i of the draw, whatever the
    // address.
    cuda::dropout_forward(static_cast<char*>(xd.data_ptr()) + es,
                          static_cast<char*>(y.data_ptr()) + es, mask.data<std::uint8_t>() + 1,
                          n - 1, 1 - p, 1 / (1 - p), 99, 3, dtype, current_stream(kGpu));
    const DropoutResult ref = dropout_forward(x.narrow(0, 1, n - 1), p, 99, 3);
    EXPECT_TRUE(all_equal(y.narrow(0, 1, n - 1), ref.y));
    EXPECT_EQ(mask.narrow(0, 1, n - 1).to_vector<std::uint8_t>(),
              ref.mask.to_vector<std::uint8_t>());
    EXPECT_EQ(mask.narrow(0, 0, 1).to_vector<std::uint8_t>()[0], 7);
  }
}

TEST(DropoutGpu, GeneratorOverloadMatchesTheCpu) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({4, 1000}, DType::kFloat32, 70);
  Generator cpu_gen(31337), gpu_gen(31337);
  for (int step = 0; step < 3; ++step) {
    const DropoutResult a = dropout_forward(x, 0.5, cpu_gen);
    const DropoutResult b = dropout_forward(x.to(kGpu), 0.5, gpu_gen);
    EXPECT_EQ(a.mask.to_vector<std::uint8_t>(), b.mask.to_vector<std::uint8_t>()) << step;
    EXPECT_TRUE(all_equal(b.y, a.y)) << step;
  }
  EXPECT_EQ(cpu_gen.state(), gpu_gen.state());
  EXPECT_EQ(gpu_gen.offset(), 3u * 1000u);
}

// The per-replay shift of a captured draw (DropoutReplayShifts): the offset the kernel uses is
// offset + *offset_shift, read when it runs; write_replay_shifts sets the slots on the stream.
TEST(DropoutGpu, OffsetShiftFromDeviceMemory) {
  CUDANET_REQUIRE_GPU();
  const std::int64_t n = 1001;
  const Tensor x = testing::random_tensor({n}, DType::kFloat32, 4);
  const Tensor xd = x.to(kGpu);
  DropoutReplayShifts shifts(kGpu);
  Generator g(21);
  shifts.begin_capture();
  const std::uint64_t* slot = shifts.record(g, g.advance(300), 300);  // offset 0, 300 counters
  shifts.prepare_replay(false);  // shift 300: what the next eager step would draw with
  const Stream stream = current_stream(kGpu);
  Tensor y = Tensor::empty({n}, DType::kFloat32, kGpu);
  Tensor mask = Tensor::empty({n}, DType::kUInt8, kGpu);
  cuda::dropout_forward(xd.data_ptr(), y.data_ptr(), mask.data<std::uint8_t>(), n, 0.5, 2.0, 21, 0,
                        DType::kFloat32, stream, slot);
  const DropoutResult ref = dropout_forward(x, 0.5, 21, 300);
  EXPECT_TRUE(all_equal(mask.to(Device::cpu()), ref.mask));
  EXPECT_TRUE(all_equal(y.to(Device::cpu()), ref.y));
  EXPECT_EQ(g.offset(), 600u);
  // The regenerating backward reads the same slot, so it drops what the shifted forward dropped.
  const Tensor dy = testing::random_tensor({n}, DType::kFloat32, 5);
  const Tensor dyd = dy.to(kGpu);
  Tensor dx = Tensor::empty({n}, DType::kFloat32, kGpu);
  testing::poison(dx);
  cuda::dropout_backward(dyd.data_ptr(), dx.data_ptr(), n, 0.5, 2.0, 21, 0, DType::kFloat32, stream,
                         slot);
  EXPECT_TRUE(all_equal(dx.to(Device::cpu()), dropout_backward(dy, ref.mask, 0.5)));
  EXPECT_TRUE(all_equal(dropout_backward(dyd, 0.5, 21, 0, slot).to(Device::cpu()),
                        dropout_backward(dy, ref.mask, 0.5)));
}

// The memory plan's path: no mask stored in the forward (y unchanged) and keep_i regenerated in
// the backward, bit for bit the CPU's mask-based dx; aligned and misaligned pointers.
TEST(DropoutGpu, RegeneratedBackwardEqualsTheCpuMaskBackwardBitForBit) {
  CUDANET_REQUIRE_GPU();
  std::uint64_t seed = 500;
  for (std::int64_t n : {1, 3, 507, (1 << 20) + 3}) {
    for (std::uint64_t offset : {std::uint64_t{0}, ~std::uint64_t{0} - 2}) {
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        for (double p : {0.0, 0.5, 0.9}) {
          if (n > 100000 && p != 0.5) continue;
          SCOPED_TRACE(::testing::Message()
                       << "n " << n << " offset " << offset << " " << dtype << " p " << p);
          const Tensor x = testing::random_tensor({n}, dtype, seed++, -4, 4);
          const Tensor dy = testing::random_tensor({n}, dtype, seed++);
          const DropoutResult ref = dropout_forward(x, p, seed, offset);
          const Tensor dx_ref = dropout_backward(dy, ref.mask, p);
          const DropoutResult t = dropout_forward(x.to(kGpu), p, seed, offset, false);
          EXPECT_FALSE(t.mask.defined());
          EXPECT_TRUE(all_equal(t.y, ref.y));
          EXPECT_TRUE(all_equal(dropout_backward(dy.to(kGpu), p, seed, offset), dx_ref));
          // Raw launchers, poisoned outputs; misaligned: elements 1..n-1 as a draw of their own.
          const Tensor dyd = dy.to(kGpu);
          Tensor dx = Tensor::empty({n}, dtype, kGpu);
          testing::poison(dx);
          cuda::dropout_backward(dyd.data_ptr(), dx.data_ptr(), n, 1 - p, 1 / (1 - p), seed, offset,
                                 dtype, current_stream(kGpu));
          EXPECT_TRUE(all_equal(dx, dx_ref));
          if (n > 1) {
            const std::size_t es = element_size(dtype);
            testing::poison(dx);
            cuda::dropout_backward(static_cast<const char*>(dyd.data_ptr()) + es,
                                   static_cast<char*>(dx.data_ptr()) + es, n - 1, 1 - p,
                                   1 / (1 - p), seed, offset, dtype, current_stream(kGpu));
            const DropoutResult tail = dropout_forward(x.narrow(0, 1, n - 1), p, seed, offset);
            EXPECT_TRUE(all_equal(dx.narrow(0, 1, n - 1),
                                  dropout_backward(dy.narrow(0, 1, n - 1), tail.mask, p)));
          }
        }
      }
    }
  }
}

TEST(DropoutGpu, RejectsDeviceMismatch) {
  CUDANET_REQUIRE_GPU();
  const Tensor x = testing::random_tensor({8}, DType::kFloat32, 1);
  const DropoutResult r = dropout_forward(x, 0.5, 1, 0);
  EXPECT_THROW(dropout_backward(x.to(kGpu), r.mask, 0.5), ValueError);
}

// The replay shifts travel as kernel arguments: for every count n, slots [0, n) get their values
// and the slots after them keep what they held.
TEST(DropoutGpu, WriteReplayShiftsWritesExactlyTheFirstNSlots) {
  CUDANET_REQUIRE_GPU();
  constexpr int kSlots = DropoutReplayShifts::kMaxGenerators;
  std::vector<std::uint64_t> values(kSlots);
  for (int i = 0; i < kSlots; ++i) values[i] = (std::uint64_t{1} << 63) + 1000 * i + 7;
  const Stream stream = current_stream(kGpu);
  for (int n = 0; n <= kSlots; ++n) {
    Tensor slots = Tensor::full({kSlots}, -1.0, DType::kInt64, kGpu);
    cuda::write_replay_shifts(static_cast<std::uint64_t*>(slots.data_ptr()), values.data(), n,
                              stream);
    const Tensor host = slots.to(Device::cpu());
    const auto* got = static_cast<const std::uint64_t*>(host.data_ptr());
    for (int i = 0; i < kSlots; ++i) {
      EXPECT_EQ(got[i], i < n ? values[i] : ~std::uint64_t{0}) << "n=" << n << " slot " << i;
    }
  }
  std::uint64_t dummy = 0;
  EXPECT_THROW(cuda::write_replay_shifts(&dummy, values.data(), kSlots + 1, stream), ValueError);
}

}  // namespace
}  // namespace cudanet::kernels
