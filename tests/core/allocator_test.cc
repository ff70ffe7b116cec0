// The CPU allocator, get_allocator(), DataPtr, and the pinned host allocator (its caching logic on
// a fake backend, and the aligned-host fallback used without a GPU).
#include "core/allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <map>
#include <memory>
#include <type_traits>
#include <utility>

#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/pinned_allocator.h"

namespace cudanet {
namespace {

bool aligned64(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
}

TEST(CpuAllocator, Returns64ByteAlignedWritableMemory) {
  Allocator& a = cpu_allocator();
  for (std::size_t n : {1, 3, 63, 64, 65, 1000, 4096, 1 << 20}) {
    DataPtr p = a.allocate(n, Stream());
    ASSERT_TRUE(p) << n;
    EXPECT_TRUE(aligned64(p.get())) << n;
    EXPECT_EQ(p.device(), Device::cpu());
    std::memset(p.get(), 0xAB, n);  // under ASan, an overrun here would be reported
  }
}

TEST(CpuAllocator, ZeroBytesGiveAnEmptyDataPtr) {
  DataPtr p = cpu_allocator().allocate(0, Stream());
  EXPECT_FALSE(p);
  EXPECT_EQ(p.get(), nullptr);
}

TEST(CpuAllocator, HugeRequestThrowsOutOfMemoryError) {
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
  try {
    cpu_allocator().allocate(huge, Stream());
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested_bytes(), huge);
    EXPECT_NE(e.message().find("CPU memory"), std::string::npos) << e.message();
  }
}

TEST(CpuAllocator, ReusesFreedBlocksUnlessCachingIsOff) {
  const char* env = std::getenv("CUDANET_NO_CACHING");
  const bool caching = env == nullptr || *env == '\0' || std::string(env) == "0";
  void* first = nullptr;
  {
    DataPtr p = cpu_allocator().allocate(3 << 20, Stream());
    first = p.get();
  }
  DataPtr again = cpu_allocator().allocate((3 << 20) - 100, Stream());  // the same size class
  if (caching) {
    EXPECT_EQ(again.get(), first);
  }
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again.get()) % 64, 0u);
}

TEST(GetAllocator, CpuAndCudaDevices) {
  EXPECT_EQ(&get_allocator(Device::cpu()), &cpu_allocator());
  if (!cuda::is_available()) {
    EXPECT_THROW(get_allocator(Device::cuda(0)), CudaError);
    EXPECT_THROW(cuda::memory_stats(0), CudaError);
    EXPECT_THROW(cuda::empty_cache(0), CudaError);
    EXPECT_THROW(cuda::memory_summary(0), CudaError);
    EXPECT_THROW(cuda::reset_peak_memory_stats(0), CudaError);
  }
  EXPECT_THROW(get_allocator(Device::cuda(1000)), CudaError);
}

// Counts deleter calls through the context pointer.
void count_delete(void* context, void*) noexcept {
  ++*static_cast<int*>(context);
}

TEST(DataPtr, IsMoveOnlyAndDeletesOnce) {
  static_assert(!std::is_copy_constructible_v<DataPtr>);
  static_assert(!std::is_copy_assignable_v<DataPtr>);
  int deletes = 0;
  int x = 0, y = 0;
  {
    DataPtr a(&x, &deletes, &count_delete, Device::cpu());
    DataPtr b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(b.get(), &x);
    DataPtr c(&y, &deletes, &count_delete, Device::cpu());
    c = std::move(b);  // releases y
    EXPECT_EQ(deletes, 1);
    EXPECT_EQ(c.get(), &x);
    EXPECT_EQ(b.get(), nullptr);  // NOLINT(bugprone-use-after-move)
  }
  EXPECT_EQ(deletes, 2);
}

// A HostMemoryBackend with fake addresses, a fixed capacity and events the test completes.
class FakeHostBackend final : public HostMemoryBackend {
 public:
  explicit FakeHostBackend(std::size_t capacity) : capacity_(capacity) {}
  void* malloc(std::size_t nbytes) override {
    if (nbytes > capacity_ - used_) return nullptr;
    void* p = reinterpret_cast<void*>(next_);
    next_ += nbytes + 4096;
    used_ += nbytes;
    sizes_[p] = nbytes;
    ++mallocs;
    return p;
  }
  void free(void* ptr) override {
    used_ -= sizes_.at(ptr);
    sizes_.erase(ptr);
    ++frees;
  }
  EventId record_event(const Stream& stream) override {
    events_[++last_] = {stream.id(), false};
    return last_;
  }
  bool event_done(EventId e) override { return events_.at(e).second; }
  void release_event(EventId e) override { events_.erase(e); }
  bool pinned() const override { return true; }
  void complete(const Stream& s) {
    for (auto& [id, e] : events_) {
      if (e.first == s.id()) e.second = true;
    }
  }
  std::size_t live_events() const { return events_.size(); }
  std::size_t used() const { return used_; }
  int mallocs = 0;
  int frees = 0;

 private:
  std::size_t capacity_;
  std::size_t used_ = 0;
  std::uintptr_t next_ = std::uintptr_t{1} << 40;
  std::map<void*, std::size_t> sizes_;
  std::map<EventId, std::pair<std::uintptr_t, bool>> events_;
  EventId last_ = 0;
};

const Stream kCopyStream(Device::cuda(0), reinterpret_cast<void*>(0xC0));
const Stream kOtherStream(Device::cuda(0), reinterpret_cast<void*>(0xD0));

class HostCachingAllocatorTest : public ::testing::Test {
 protected:
  HostCachingAllocatorTest() {
    auto backend = std::make_unique<FakeHostBackend>(64 << 20);
    fake_ = backend.get();
    allocator_ = std::make_unique<HostCachingAllocator>(std::move(backend));
  }
  FakeHostBackend* fake_;
  std::unique_ptr<HostCachingAllocator> allocator_;
};

TEST_F(HostCachingAllocatorTest, CachesBlocksBySizeClass) {
  EXPECT_EQ(HostCachingAllocator::size_class(1), 512u);
  EXPECT_EQ(HostCachingAllocator::size_class(513), 1024u);
  EXPECT_EQ(HostCachingAllocator::size_class(3 << 20), 4u << 20);
  void* first = nullptr;
  {
    DataPtr p = allocator_->allocate(3000, Stream());
    first = p.get();
    EXPECT_EQ(p.device(), Device::cpu());
    EXPECT_EQ(allocator_->stats().allocated_bytes, 4096);
  }
  HostCacheStats s = allocator_->stats();
  EXPECT_EQ(s.cached_bytes, 4096);
  EXPECT_EQ(s.allocations, 0);
  DataPtr q = allocator_->allocate(4000, Stream());  // same class: the cached block
  EXPECT_EQ(q.get(), first);
  DataPtr r = allocator_->allocate(5000, Stream());  // another class: a new block
  EXPECT_NE(r.get(), first);
  s = allocator_->stats();
  EXPECT_EQ(s.allocations, 2);
  EXPECT_EQ(s.num_backend_mallocs, 2);
  EXPECT_EQ(s.reserved_bytes, 4096 + 8192);
  EXPECT_TRUE(s.pinned);
  EXPECT_FALSE(allocator_->allocate(0, Stream()));
}

TEST_F(HostCachingAllocatorTest, TracksRequestedBytesAndPeaks) {
  {
    DataPtr a = allocator_->allocate(3000, Stream());
    DataPtr b = allocator_->allocate(600, Stream());
    HostCacheStats s = allocator_->stats();
    EXPECT_EQ(s.requested_bytes, 3600);
    EXPECT_EQ(s.allocated_bytes, 4096 + 1024);
    EXPECT_EQ(s.peak_requested_bytes, 3600);
    EXPECT_EQ(s.peak_allocated_bytes, 4096 + 1024);
  }
  HostCacheStats s = allocator_->stats();
  EXPECT_EQ(s.requested_bytes, 0);
  EXPECT_EQ(s.peak_requested_bytes, 3600);  // peaks stay until reset
  DataPtr c = allocator_->allocate(100, Stream());
  allocator_->reset_peak_stats();
  s = allocator_->stats();
  EXPECT_EQ(s.peak_requested_bytes, 100);
  EXPECT_EQ(s.peak_allocated_bytes, 512);
}

TEST(CpuAllocator, PeakStatisticsSeeEveryTensor) {
  const char* env = std::getenv("CUDANET_NO_CACHING");
  if (env != nullptr && *env != '\0' && std::string(env) != "0") {
    GTEST_SKIP() << "CUDANET_NO_CACHING=1: CPU tensors bypass the cache and its statistics";
  }
  const std::int64_t base = cpu_memory_stats().requested_bytes;
  reset_cpu_peak_memory_stats();
  { DataPtr p = cpu_allocator().allocate(1 << 20, Stream()); }
  const HostCacheStats s = cpu_memory_stats();
  EXPECT_EQ(s.requested_bytes, base);
  EXPECT_GE(s.peak_requested_bytes, base + (1 << 20));
}

TEST_F(HostCachingAllocatorTest, BlockUsedByAStreamIsReusedAfterItsEvent) {
  DataPtr p = allocator_->allocate(1000, kCopyStream);  // used on the copy stream
  void* first = p.get();
  allocator_->record_stream(first, kOtherStream);
  allocator_->record_stream(first, Stream());  // a CPU stream: nothing to wait for
  p = DataPtr();
  EXPECT_EQ(fake_->live_events(), 2u);
  EXPECT_EQ(allocator_->stats().awaiting_events_bytes, 1024);
  DataPtr q = allocator_->allocate(1000, Stream());
  EXPECT_NE(q.get(), first);
  fake_->complete(kCopyStream);
  DataPtr r = allocator_->allocate(1000, Stream());
  EXPECT_NE(r.get(), first);  // the other stream still runs
  fake_->complete(kOtherStream);
  DataPtr t = allocator_->allocate(1000, Stream());
  EXPECT_EQ(t.get(), first);
  EXPECT_EQ(fake_->live_events(), 0u);
  EXPECT_EQ(allocator_->stats().awaiting_events_bytes, 0);
}

TEST_F(HostCachingAllocatorTest, OutOfMemoryReleasesTheCacheThenThrows) {
  { DataPtr a = allocator_->allocate(16 << 20, Stream()); }  // cached
  DataPtr b = allocator_->allocate(32 << 20, Stream());
  DataPtr c = allocator_->allocate(20 << 20, Stream());  // 32 MiB: needs the cache released
  EXPECT_EQ(fake_->frees, 1);
  EXPECT_EQ(allocator_->stats().cached_bytes, 0);
  EXPECT_THROW(allocator_->allocate(20 << 20, Stream()), OutOfMemoryError);
  allocator_->empty_cache();
  EXPECT_EQ(fake_->used(), std::size_t{64} << 20);
  EXPECT_THROW(allocator_->record_stream(&fake_, kCopyStream), ValueError);
}

TEST(PinnedAllocator, FallsBackToAlignedHostMemoryWithoutAGpu) {
  const HostCacheStats before = pinned_memory_stats();
  EXPECT_EQ(before.pinned, cuda::is_available());
  void* first = nullptr;
  {
    DataPtr p = pinned_allocator().allocate(1000, Stream());
    ASSERT_TRUE(p);
    EXPECT_TRUE(aligned64(p.get()));
    EXPECT_EQ(p.device(), Device::cpu());
    std::memset(p.get(), 1, 1000);
    first = p.get();
    EXPECT_EQ(pinned_memory_stats().allocations, before.allocations + 1);
  }
  EXPECT_GE(pinned_memory_stats().cached_bytes, 1024);
  DataPtr q = pinned_allocator().allocate(1000, Stream());
  EXPECT_EQ(q.get(), first);
  q = DataPtr();
  pinned_empty_cache();
  EXPECT_EQ(pinned_memory_stats().cached_bytes, 0);
  EXPECT_THROW(pinned_allocator().allocate(std::numeric_limits<std::size_t>::max(), Stream()),
               OutOfMemoryError);
}

}  // namespace
}  // namespace cudanet
