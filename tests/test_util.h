// Shared helpers for cudanet tests.
#pragma once

#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/cuda_runtime.h"

// Skips the current test, visibly and with the reason, when no GPU can be used.
#define CUDANET_REQUIRE_GPU()                                                        \
  do {                                                                               \
    if (!::cudanet::cuda::is_available()) {                                          \
      GTEST_SKIP() << "needs a CUDA GPU: " << ::cudanet::cuda::unavailable_reason(); \
    }                                                                                \
  } while (0)

// GPU tests at AlexNet scale take minutes each on the cudaemu CPU emulator (tools/cudaemu): there
// they skip, visibly, unless CUDAEMU_SLOW_TESTS=1. On a GPU they always run.
#define CUDANET_SKIP_SLOW_ON_EMULATOR()                                                   \
  do {                                                                                    \
    if (::cudanet::testing::skip_slow_on_emulator()) {                                    \
      GTEST_SKIP() << "AlexNet scale: minutes on the cudaemu CPU emulator (set "          \
                      "CUDAEMU_SLOW_TESTS=1 to run it there); it runs on every real GPU"; \
    }                                                                                     \
  } while (0)

namespace cudanet::testing {
inline bool skip_slow_on_emulator() {
#if CUDANET_CUDA_EMULATED
  const char* v = std::getenv("CUDAEMU_SLOW_TESTS");
  return v == nullptr || std::strcmp(v, "1") != 0;
#else
  return false;
#endif
}
}  // namespace cudanet::testing
