# User-facing options of the cudanet build.
set(CUDANET_CUDA AUTO CACHE STRING
    "Build the CUDA backend: AUTO (when a toolkit is found), ON, OFF, or EMULATE (on the CPU \
emulator tools/cudaemu, to run the GPU tests without a GPU)")
set_property(CACHE CUDANET_CUDA PROPERTY STRINGS AUTO ON OFF EMULATE)
set(CUDANET_CUDNN AUTO CACHE STRING "Build the cuDNN backend: AUTO (when cuDNN is found), ON, OFF")
set_property(CACHE CUDANET_CUDNN PROPERTY STRINGS AUTO ON OFF)
option(BUILD_SHARED_LIBS "Build libcudanet as a shared library" ON)
option(CUDANET_PYTHON "Build the Python package (nanobind)" OFF)
set(CUDANET_SANITIZE "" CACHE STRING "Host sanitizers, e.g. 'address;undefined'")
option(CUDANET_WERROR "Treat compiler warnings as errors" OFF)
option(CUDANET_BENCHMARKS "Build the benchmarks (needs Google Benchmark)" ON)
option(CUDANET_SYNC_LAUNCHES "Synchronise after every kernel launch by default (debugging)" OFF)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

# ccache for C++ and CUDA when present (CUDA compiles are slow on small machines).
find_program(CUDANET_CCACHE ccache)
if(CUDANET_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CUDANET_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${CUDANET_CCACHE}")
endif()
