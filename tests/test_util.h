// Shared helpers for cudanet tests.
#pragma once

#include <gtest/gtest.h>

#include "core/cuda_runtime.h"

// Skips the current test, visibly and with the reason, when no GPU can be used.
#define CUDANET_REQUIRE_GPU()                                                        \
  do {                                                                               \
    if (!::cudanet::cuda::is_available()) {                                          \
      GTEST_SKIP() << "needs a CUDA GPU: " << ::cudanet::cuda::unavailable_reason(); \
    }                                                                                \
  } while (0)
