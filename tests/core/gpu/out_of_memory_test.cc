// Out of memory on a real GPU: fill the device through the caching allocator until it refuses,
// then check the OutOfMemoryError (its message fields and requested size), that every refusal
// was counted with its retry, that nothing leaked once everything is released, and that the
// allocator still works afterwards.
//
// Note: this test takes the whole device, so it must not share the GPU with other tests: ctest
// runs tests named *FillTheDevice* serially (tests/CMakeLists.txt) and tools/device_check.sh
// leaves them out of its parallel compute-sanitizer runs.
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "gpu_memory.h"
#include "test_util.h"

namespace cudanet {
namespace {

using testing::device_free_bytes;
using testing::kMiB;

TEST(CudaOutOfMemory, FillTheDeviceUntilItRefusesThenRecover) {
  CUDANET_REQUIRE_GPU();
  cuda::empty_cache(0);
  const MemoryStats before = cuda::memory_stats(0);
  const std::size_t free_before = device_free_bytes();
  const std::size_t total = cuda::properties(0).total_memory;
  Allocator& allocator = cuda::caching_allocator(0);
  const Stream stream = cuda::current_stream(0);

  // Halve the request after each refusal: 1 GiB chunks, then smaller, down to 2 MiB.
  std::vector<DataPtr> held;
  std::size_t held_bytes = 0;
  std::int64_t refusals = 0;
  std::string first_message;
  std::size_t first_requested = 0;
  for (std::size_t chunk = 1024 * kMiB; chunk >= 2 * kMiB && held.size() < 100000;) {
    try {
      held.push_back(allocator.allocate(chunk, stream));
      held_bytes += chunk;
    } catch (const OutOfMemoryError& e) {
      if (refusals++ == 0) {
        first_message = e.message();
        first_requested = e.requested_bytes();
      }
      chunk /= 2;
    }
  }
  ASSERT_GT(refusals, 0) << "the device never refused";
  EXPECT_GE(held_bytes, free_before / 10 * 9)
      << "filled " << held_bytes << " of " << free_before << " free bytes";
  EXPECT_LE(held_bytes, total);

  // The first refusal: a 1 GiB request, with every field of the message.
  EXPECT_EQ(first_requested, 1024 * kMiB);
  for (const char* field : {"out of memory on cuda:0", "tried to allocate 1.00 GiB", "device total",
                            "device free", "allocated by cudanet", "reserved by cudanet"}) {
    EXPECT_NE(first_message.find(field), std::string::npos) << field << " in: " << first_message;
  }
  const MemoryStats full = cuda::memory_stats(0);
  EXPECT_EQ(full.num_ooms - before.num_ooms, refusals);
  EXPECT_EQ(full.num_alloc_retries - before.num_alloc_retries, refusals);  // one retry each
  EXPECT_EQ(full.allocated_bytes.current - before.allocated_bytes.current,
            static_cast<std::int64_t>(held_bytes));

  // Nothing leaked: the statistics and the device return to where they were.
  held.clear();
  cuda::empty_cache(0);
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.allocated_bytes.current, before.allocated_bytes.current);
  EXPECT_EQ(after.allocated_blocks.current, before.allocated_blocks.current);
  EXPECT_LE(after.reserved_bytes.current, before.reserved_bytes.current);
  EXPECT_GE(device_free_bytes() + 64 * kMiB, free_before);

  // And the allocator still works: a large tensor holds data.
  Tensor t = Tensor::full({256 * 1024 * 1024}, 3.0, DType::kFloat32, Device::cuda(0));  // 1 GiB
  const Tensor back = t.narrow(0, 0, 1000).to(Device::cpu());
  EXPECT_EQ(back.to_vector<float>(), std::vector<float>(1000, 3.0f));
}

}  // namespace
}  // namespace cudanet
