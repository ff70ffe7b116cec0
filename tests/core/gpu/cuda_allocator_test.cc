// The CUDA caching allocator and the pinned host allocator on a real GPU (skipped without one).
// The allocators are process-wide, so the tests compare statistics before and after.
#include "core/cuda_allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/cuda/memory_ops.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/pinned_allocator.h"
#include "core/stream.h"
#include "test_util.h"

#if CUDANET_CUDA_EMULATED
#include "cudaemu/racecheck.h"
#endif

namespace cudanet {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// Tests of the cache itself are meaningless when CUDANET_NO_CACHING bypasses it.
#define CUDANET_REQUIRE_CACHING()                                               \
  do {                                                                          \
    CUDANET_REQUIRE_GPU();                                                      \
    if (cuda::caching_disabled(0)) GTEST_SKIP() << "CUDANET_NO_CACHING is set"; \
  } while (0)

TEST(CudaCachingAllocator, IsTheAllocatorOfTheDevice) {
  CUDANET_REQUIRE_GPU();
  EXPECT_EQ(&get_allocator(Device::cuda(0)), &cuda::caching_allocator(0));
  Allocator& a = cuda::caching_allocator(0);
  EXPECT_FALSE(a.allocate(0, cuda::current_stream(0)));
  EXPECT_THROW(a.allocate(16, Stream()), ValueError);  // a CPU stream
}

TEST(CudaCachingAllocator, ReusesAFreedBlockWithoutCudaMalloc) {
  CUDANET_REQUIRE_CACHING();
  Allocator& a = cuda::caching_allocator(0);
  const Stream s = cuda::current_stream(0);
  void* first = nullptr;
  {
    DataPtr p = a.allocate(kMiB, s);
    first = p.get();
    EXPECT_EQ(p.device(), Device::cuda(0));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % 256,
              0u);  // cudaMalloc aligns segments to 256 B
  }
  const MemoryStats before = cuda::memory_stats(0);
  std::vector<DataPtr> again;
  again.push_back(a.allocate(kMiB, s));
  EXPECT_EQ(again[0].get(), first);
  for (int i = 0; i < 100; ++i) again.push_back(a.allocate(4096 + 512 * i, s));
  again.clear();
  for (int i = 0; i < 100; ++i) again.push_back(a.allocate(4096 + 512 * i, s));
  again.clear();
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_LE(after.num_backend_mallocs - before.num_backend_mallocs, 1);  // at most one segment
  EXPECT_EQ(after.allocated_bytes.current, before.allocated_bytes.current);
}

TEST(CudaCachingAllocator, MemoryHoldsDataAndStatsCountIt) {
  CUDANET_REQUIRE_CACHING();
  const Stream s = cuda::current_stream(0);
  const MemoryStats before = cuda::memory_stats(0);
  std::vector<std::int32_t> host(100000), back(host.size());
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<std::int32_t>(i * 7 - 3);
  const std::size_t nbytes = host.size() * sizeof(std::int32_t);
  DataPtr d = cuda::caching_allocator(0).allocate(nbytes, s);
  cuda::copy_host_to_device(d.get(), host.data(), nbytes, s, true);
  cuda::copy_device_to_host(back.data(), d.get(), nbytes, s);
  s.synchronize();
  EXPECT_EQ(back, host);
  const MemoryStats during = cuda::memory_stats(0);
  EXPECT_EQ(during.allocated_bytes.current - before.allocated_bytes.current,
            static_cast<std::int64_t>(CachingAllocatorCore::round_size(nbytes)));
  EXPECT_EQ(during.allocated_blocks.current - before.allocated_blocks.current, 1);
  EXPECT_GE(during.reserved_bytes.current, during.allocated_bytes.current);
  d = DataPtr();
  EXPECT_EQ(cuda::memory_stats(0).allocated_bytes.current, before.allocated_bytes.current);
  EXPECT_NE(cuda::memory_summary(0).find("cuda:0"), std::string::npos);
}

TEST(CudaCachingAllocator, OutOfMemoryIsReportedAndTheAllocatorStaysUsable) {
  CUDANET_REQUIRE_GPU();
  const std::size_t total = cuda::properties(0).total_memory;
  const MemoryStats before = cuda::memory_stats(0);
  try {
    cuda::caching_allocator(0).allocate(2 * total, cuda::current_stream(0));
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested_bytes(), 2 * total);
    EXPECT_NE(e.message().find("cuda:0"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("device total"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("reserved by cudanet"), std::string::npos) << e.message();
  }
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.num_ooms - before.num_ooms, 1);
  EXPECT_EQ(after.num_alloc_retries - before.num_alloc_retries, 1);
  DataPtr p = cuda::caching_allocator(0).allocate(kMiB, cuda::current_stream(0));
  EXPECT_TRUE(p);
}

TEST(CudaCachingAllocator, EmptyCacheReturnsUnusedSegments) {
  CUDANET_REQUIRE_CACHING();
  const Stream s = cuda::new_stream(0);  // a stream of its own: a segment of its own
  { DataPtr p = cuda::caching_allocator(0).allocate(30 * kMiB, s); }
  const MemoryStats cached = cuda::memory_stats(0);
  cuda::empty_cache(0);
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_LE(after.reserved_bytes.current, cached.reserved_bytes.current - 30 * (1 << 20));
  EXPECT_GE(after.num_backend_frees - cached.num_backend_frees, 1);
  cuda::reset_peak_memory_stats(0);
  EXPECT_EQ(cuda::memory_stats(0).reserved_bytes.peak, after.reserved_bytes.current);
}

TEST(CudaCachingAllocator, BlockUsedOnAnotherStreamWaitsForIt) {
  CUDANET_REQUIRE_CACHING();
  Allocator& a = cuda::caching_allocator(0);
  const Stream s1 = cuda::new_stream(0);
  const Stream s2 = cuda::new_stream(0);
  DataPtr p = a.allocate(64 * 1024, s1);
  void* first = p.get();
  a.record_stream(first, s2);
  const MemoryStats before = cuda::memory_stats(0);
  p = DataPtr();  // an event is recorded on s2
  EXPECT_EQ(cuda::memory_stats(0).active_blocks.current, before.active_blocks.current);
  s2.synchronize();
  DataPtr q = a.allocate(64 * 1024, s1);  // polls the event: done, so the block is back
  EXPECT_EQ(q.get(), first);
  DataPtr other = a.allocate(64 * 1024, s2);  // never a block of s1's segments
  EXPECT_NE(other.get(), first);
}

#if CUDANET_CUDA_EMULATED
// What record_stream is for, seen by the emulator's stream-order checker (tools/cudaemu, on with
// its race checker). A block that stream s2 reads, freed and reused on its own stream s1 at once,
// is overwritten while s2's read may still be pending on a GPU; the emulator runs everything in
// the order it was issued, so only the checker sees it. After record_stream(block, s2), the reuse
// waits for s2's event and the write comes after the read. Throws what the write throws.
void reuse_a_block_read_on_another_stream(bool record_stream) {
  cudaemu::set_racecheck(true);
  Allocator& a = cuda::caching_allocator(0);
  const Stream s1 = cuda::new_stream(0);
  const Stream s2 = cuda::new_stream(0);
  const std::vector<std::int32_t> host(16 * 1024, 7);
  const std::size_t bytes = host.size() * sizeof(std::int32_t);
  DataPtr block = a.allocate(bytes, s1);
  const DataPtr copy = a.allocate(bytes, s2);
  cuda::copy_host_to_device(block.get(), host.data(), bytes, s1, true);
  cuda::copy_device_to_device(copy.get(), block.get(), bytes, s2);  // s2 reads the block
  void* const first = block.get();
  if (record_stream) a.record_stream(first, s2);
  block = DataPtr();
  DataPtr again = a.allocate(bytes, s1);
  if (again.get() != first) std::exit(2);  // (the test needs the block back)
  cuda::copy_host_to_device(again.get(), host.data(), bytes, s1, true);
}

TEST(CudaCachingAllocatorDeathTest, ABlockReusedWhileAnotherStreamMayReadItIsAStreamOrderRace) {
  CUDANET_REQUIRE_CACHING();
  EXPECT_EXIT(
      {
        try {
          reuse_a_block_read_on_another_stream(false);
        } catch (const CudaError&) {
          std::exit(0);
        }
        std::exit(1);
      },
      ::testing::ExitedWithCode(0),
      "stream-order race on device memory \\(byte 0 of an allocation of [0-9]+\\): a write by "
      "cudaMemcpyAsync \\(host to device, 65536 bytes\\) on stream #[0-9]+, and a read by "
      "cudaMemcpyAsync \\(device to device, 65536 bytes\\) on stream #[0-9]+");
  EXPECT_EXIT(
      {
        reuse_a_block_read_on_another_stream(true);  // no race: returns
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}
#endif

TEST(CudaCachingAllocator, NoCachingEnvironmentVariableBypassesTheCache) {
  CUDANET_REQUIRE_GPU();
  if (cuda::caching_disabled(0)) {
    const MemoryStats before = cuda::memory_stats(0);
    { DataPtr p = cuda::caching_allocator(0).allocate(1000, cuda::current_stream(0)); }
    const MemoryStats after = cuda::memory_stats(0);
    EXPECT_EQ(after.num_backend_mallocs - before.num_backend_mallocs, 1);
    EXPECT_EQ(after.num_backend_frees - before.num_backend_frees, 1);
    EXPECT_NE(cuda::memory_summary(0).find("bypass"), std::string::npos);
    return;
  }
  // This process caches; run this test again in a child process with the variable set. (The
  // shell resolves /proc/self/exe to itself: name this program by its real path.)
  const std::string command =
      "CUDANET_NO_CACHING=1 '" + std::filesystem::read_symlink("/proc/self/exe").string() +
      "' --gtest_filter=CudaCachingAllocator.NoCachingEnvironmentVariableBypassesTheCache "
      "> /dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(PinnedAllocator, UsesPageLockedMemoryAndWaitsForCopies) {
  CUDANET_REQUIRE_GPU();
  EXPECT_TRUE(pinned_memory_stats().pinned);
  const Stream copy = cuda::copy_stream(0);
  std::vector<std::int32_t> back(4096);
  DataPtr d = cuda::caching_allocator(0).allocate(back.size() * 4, copy);
  DataPtr h = pinned_allocator().allocate(back.size() * 4, copy);  // used on `copy`
  void* first = h.get();
  std::memset(first, 0x5A, back.size() * 4);
  cuda::copy_host_to_device(d.get(), first, back.size() * 4, copy, false);
  h = DataPtr();  // freed while the copy may still read it
  copy.synchronize();
  cuda::copy_device_to_host(back.data(), d.get(), back.size() * 4, copy);
  for (std::int32_t v : back) ASSERT_EQ(v, 0x5A5A5A5A);
  DataPtr again = pinned_allocator().allocate(back.size() * 4, Stream());
  EXPECT_EQ(again.get(), first);  // the event has completed: reused
}

}  // namespace
}  // namespace cudanet
