// Test entry point: GoogleTest plus a banner that says whether GPU tests will run here.
#include <cstdio>
#include <gtest/gtest.h>

#include "core/cuda_runtime.h"
#include "core/version.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--gtest_list_tests", 0) == 0) listing = true;
  }
  if (!listing) {
    std::printf(
        "[ cudanet  ] %s; GPU: %s\n", cudanet::build_info().c_str(),
        cudanet::cuda::is_available() ? "available" : cudanet::cuda::unavailable_reason().c_str());
  }
  return RUN_ALL_TESTS();
}
