# cudaemu: CUDANET_CUDA=EMULATE builds the CUDA backend against a CPU emulation of the CUDA runtime
# (tools/cudaemu/README.md). The targets CUDA::cudart, CUDA::cublas and CUDA::nvtx3 name the
# emulator (so does cudanet_cudnn_lib: it has a cuDNN stand-in, include/cudnn.h), and cudanet_cuda_sources() rewrites .cu files into C++ for the host compiler:
#   kernel<<<grid, block, smem, stream>>>(args)  ->  kernel ->* ::cudaemu::Config(...)(args)
# (see cudaemu/device.h).
set(CUDAEMU_DIR "${CMAKE_CURRENT_LIST_DIR}")

include(CheckCXXCompilerFlag)
check_cxx_compiler_flag(-march=native CUDAEMU_HAVE_MARCH_NATIVE)
set(CUDAEMU_ARCH_FLAGS "")
if(CUDAEMU_HAVE_MARCH_NATIVE)
  set(CUDAEMU_ARCH_FLAGS -march=native)
endif()

# The data-race checker (src/racecheck.cc, CUDAEMU_RACECHECK=1 at run time) watches the loads and
# stores of the rewritten .cu files: they are compiled with ThreadSanitizer's instrumentation, whose
# calls the emulator answers (ThreadSanitizer's runtime is not linked). Off under AddressSanitizer,
# which cannot be combined with it. With the checker off it still costs a call per access (the
# kernel tests take 1.7 times as long; tools/cudaemu/README.md).
set(_saved_try_type "${CMAKE_TRY_COMPILE_TARGET_TYPE}")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)  # compiled, never linked with the flag
check_cxx_compiler_flag(-fsanitize=thread CUDAEMU_HAVE_TSAN_FLAG)
set(CMAKE_TRY_COMPILE_TARGET_TYPE "${_saved_try_type}")
set(_racecheck_default OFF)
if(CUDAEMU_HAVE_TSAN_FLAG AND NOT CMAKE_CXX_FLAGS MATCHES "sanitize=address"
   AND NOT CUDANET_SANITIZE MATCHES "address")
  set(_racecheck_default ON)
endif()
option(CUDAEMU_RACECHECK "Instrument emulated kernels for cudaemu's data-race checker"
       ${_racecheck_default})
set(CUDAEMU_INSTRUMENT_FLAGS "")
if(CUDAEMU_RACECHECK)
  # -g1: line tables, so that a report can name the function and line of the racing access.
  set(CUDAEMU_INSTRUMENT_FLAGS -fsanitize=thread -g1)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # No scalar replacement of aggregates: a float4 load stays one 16-byte access (whose
    # alignment the checker verifies, as a GPU's vector load requires) instead of four floats.
    list(APPEND CUDAEMU_INSTRUMENT_FLAGS --param=tsan-instrument-func-entry-exit=0 -fno-tree-sra
         -fno-ipa-sra)
  endif()
endif()

# One shared library: the library and the test programs must see one allocation table.
add_library(cudaemu SHARED
  ${CUDAEMU_DIR}/src/runtime.cc ${CUDAEMU_DIR}/src/scheduler.cc ${CUDAEMU_DIR}/src/racecheck.cc
  ${CUDAEMU_DIR}/src/streamcheck.cc
  ${CUDAEMU_DIR}/src/cublas.cc
  ${CUDAEMU_DIR}/src/cudnn.cc ${CUDAEMU_DIR}/src/cudnn_algo.cc ${CUDAEMU_DIR}/src/cudnn_conv.cc
  ${CUDAEMU_DIR}/src/cudnn_ops.cc ${CUDAEMU_DIR}/src/cudnn_norm.cc)
target_include_directories(cudaemu SYSTEM PUBLIC $<BUILD_INTERFACE:${CUDAEMU_DIR}/include>)
target_compile_features(cudaemu PUBLIC cxx_std_17)
target_link_libraries(cudaemu PRIVATE Threads::Threads)
foreach(_name cudart cublas nvtx3)
  add_library(CUDA::${_name} ALIAS cudaemu)
endforeach()

# cudanet_cuda_sources(<target> <files.cu...>): add the rewritten files to <target>. The rewrite
# happens at configure time (an edited .cu file re-runs it); unchanged output is not rewritten.
function(cudanet_cuda_sources target)
  foreach(_cu IN LISTS ARGN)
    file(RELATIVE_PATH _rel "${PROJECT_SOURCE_DIR}" "${_cu}")
    set(_out "${PROJECT_BINARY_DIR}/cudaemu/${_rel}.cc")
    file(READ "${_cu}" _text)
    string(REPLACE "<<<" " ->* ::cudaemu::Config(__FILE__, __LINE__, " _text "${_text}")
    string(REPLACE ">>>" ")" _text "${_text}")
    file(WRITE "${_out}.tmp" "#include \"cudaemu/device.h\"\n#line 1 \"${_cu}\"\n${_text}")
    configure_file("${_out}.tmp" "${_out}" COPYONLY)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_cu}")
    target_sources(${target} PRIVATE "${_out}")
    # nvcc's #pragma unroll means nothing to the host compiler. -march=native: the kernels' fmaf
    # becomes one instruction instead of a libm call (the emulator runs where it is built; ISO
    # C++ mode still contracts nothing else into FMAs).
    set_source_files_properties("${_out}" TARGET_DIRECTORY ${target} PROPERTIES
                                COMPILE_OPTIONS
                                "-Wno-unknown-pragmas;${CUDAEMU_ARCH_FLAGS};${CUDAEMU_INSTRUMENT_FLAGS}")
  endforeach()
endfunction()
