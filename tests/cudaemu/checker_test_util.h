// What the tests of cudaemu's checkers share: device buffers, and a fixture that turns the
// race checker (and with it the stream-order checker) on for a test.
#pragma once

#include <cstdlib>
#include <gtest/gtest.h>
#include <vector>

#include <cuda_runtime_api.h>

#include "cudaemu/racecheck.h"

namespace cudaemu_test {

// n zeroed elements of device memory.
template <typename T>
T* device_alloc(std::size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemset(p, 0, n * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

template <typename T>
std::vector<T> to_host(const T* device, std::size_t n) {
  std::vector<T> host(n);
  EXPECT_EQ(cudaMemcpy(host.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// Turns the checker on for a test, and off again after it.
class Racecheck : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cudaemu::racecheck_instrumented()) {
      GTEST_SKIP() << "this build's kernels are not instrumented (CUDAEMU_RACECHECK=OFF)";
    }
    was_on_ = cudaemu::racecheck_enabled();
    cudaemu::set_racecheck(true);
  }
  void TearDown() override { cudaemu::set_racecheck(was_on_); }

 private:
  bool was_on_ = false;
};

// Runs launch() with the checker on and exits 0 if what it did failed as a race does (a race
// leaves the device in a sticky error state, so each is provoked in a child process).
template <typename Launch>
void expect_race(Launch launch) {
  launch();
  const bool failed = cudaGetLastError() == cudaErrorLaunchFailure;
  std::exit(failed ? 0 : 1);
}

}  // namespace cudaemu_test
