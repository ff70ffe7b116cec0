# CUDANET_FUZZ: the libFuzzer build (tools/fuzz.sh configures it in build-fuzz).
#
# libFuzzer comes with clang, so this build needs clang++. It is CPU only (the parsers under test
# are host code), with AddressSanitizer and UndefinedBehaviorSanitizer on every cudanet target
# (fatal: -fno-sanitize-recover=all, see CudanetWarnings.cmake) and libFuzzer's coverage
# instrumentation on everything; tests/fuzz then builds one fuzzer per parser of outside data.
option(CUDANET_FUZZ "Build the libFuzzer targets (needs clang; forces CUDA off, ASan + UBSan on)"
       OFF)
if(CUDANET_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CUDANET_FUZZ=ON needs clang for libFuzzer, but the C++ compiler is "
                        "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}: configure a fresh build "
                        "directory with -DCMAKE_CXX_COMPILER=clang++ (tools/fuzz.sh does)")
  endif()
  set(CUDANET_CUDA OFF CACHE STRING "Build the CUDA backend: AUTO, ON, OFF" FORCE)
  set(CUDANET_CUDNN OFF CACHE STRING "Build the cuDNN backend: AUTO, ON, OFF" FORCE)
  set(CUDANET_SANITIZE "address;undefined" CACHE STRING "Host sanitizers" FORCE)
  set(CUDANET_BENCHMARKS OFF CACHE BOOL "Build the benchmarks" FORCE)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
