// Host-side cost of the allocators: a cached malloc/free pair on the caching allocator's pool logic
// (fake backend, so only the bookkeeping is timed), and the CPU and pinned-fallback allocators.
#include <benchmark/benchmark.h>
#include <cstdint>
#include <random>
#include <vector>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/pinned_allocator.h"
#include "tests/core/fake_backend.h"

namespace cudanet {
namespace {

constexpr std::size_t kCapacity = std::size_t{64} << 30;

// One cached malloc/free pair of `range(0)` bytes: after the first, never a backend call.
void BM_CachedMallocFree(benchmark::State& state) {
  fakes::FakeBackend fake(kCapacity);
  CachingAllocatorCore core(fake);
  const auto size = static_cast<std::size_t>(state.range(0));
  core.free(core.malloc(size, 0));
  for (auto _ : state) {
    void* p = core.malloc(size, 0);
    benchmark::DoNotOptimize(p);
    core.free(p);
  }
  if (fake.mallocs() != 1) state.SkipWithError("the cache missed");
}
BENCHMARK(BM_CachedMallocFree)->Arg(512)->Arg(64 << 10)->Arg(1 << 20)->Arg(8 << 20)->Arg(64 << 20);

// The same pair with 2000 other blocks alive and cached on four streams: a realistic pool size.
void BM_CachedMallocFreeBusyPool(benchmark::State& state) {
  fakes::FakeBackend fake(kCapacity);
  CachingAllocatorCore core(fake);
  std::mt19937 rng(1);
  std::vector<void*> blocks;
  for (int i = 0; i < 4000; ++i) blocks.push_back(core.malloc(1 + rng() % (4 << 20), rng() % 4));
  for (std::size_t i = 0; i < blocks.size(); i += 2) core.free(blocks[i]);
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = core.malloc(size, 1);
    benchmark::DoNotOptimize(p);
    core.free(p);
  }
}
BENCHMARK(BM_CachedMallocFreeBusyPool)->Arg(4 << 10)->Arg(3 << 20);

// A pair that goes to the (fake) backend every time: bypass mode's bookkeeping.
void BM_BypassMallocFree(benchmark::State& state) {
  fakes::FakeBackend fake(kCapacity);
  CachingAllocatorCore core(fake, CachingAllocatorOptions{"fake", /*bypass=*/true});
  for (auto _ : state) {
    void* p = core.malloc(4096, 0);
    benchmark::DoNotOptimize(p);
    core.free(p);
  }
}
BENCHMARK(BM_BypassMallocFree);

void BM_CpuAllocateFree(benchmark::State& state) {
  Allocator& a = cpu_allocator();
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    DataPtr p = a.allocate(size, Stream());
    benchmark::DoNotOptimize(p.get());
  }
}
BENCHMARK(BM_CpuAllocateFree)->Arg(4 << 10)->Arg(1 << 20);

// pinned_allocator(): cudaHostAlloc-backed with a GPU, aligned host memory without one.
void BM_PinnedAllocateFree(benchmark::State& state) {
  Allocator& a = pinned_allocator();
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    DataPtr p = a.allocate(size, Stream());
    benchmark::DoNotOptimize(p.get());
  }
  state.SetLabel(pinned_memory_stats().pinned ? "pinned" : "aligned-host fallback");
}
BENCHMARK(BM_PinnedAllocateFree)->Arg(4 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace cudanet
