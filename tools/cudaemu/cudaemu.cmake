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

# _cudaemu_rewrite(<in> <out>): writes the emulator's C++ version of a .cu or .cuh file to <out>,
# and of each project .cuh file it includes to cudaemu/<its path> in the build tree (which the
# rewritten sources search first, with -iquote). Unchanged output is not written again.
function(_cudaemu_rewrite _in _out)
  file(READ "${_in}" _text)
  string(REPLACE "<<<" " ->* ::cudaemu::Config(__FILE__, __LINE__, " _text "${_text}")
  string(REPLACE ">>>" ")" _text "${_text}")
  # Each `__shared__ T name[dims];` is followed by a call that tells the emulator the variable's
  # place in the running block (it poisons what the block has not written; cudaemu/device.h).
  string(REGEX REPLACE
         "__shared__([ \t\r\n]+[^;,{}]*[^A-Za-z0-9_;,{}])([A-Za-z_][A-Za-z0-9_]*)((\\[[^];]*\\])*)[ \t]*;"
         "__shared__\\1\\2\\3; ::cudaemu::detail::shared_declared(&\\2, sizeof(\\2));" _text
         "${_text}")
  string(REGEX MATCHALL "__shared__" _declarations "${_text}")
  string(REGEX MATCHALL "::cudaemu::detail::shared_declared" _followed "${_text}")
  list(LENGTH _declarations _declared)
  list(LENGTH _followed _seen)
  if(NOT _declared EQUAL _seen)
    message(FATAL_ERROR "${_in}: cudaemu follows `__shared__ T name[dims];` declarations, one "
                        "name each, inside a function; ${_declared} mentions of __shared__ but "
                        "${_seen} such declarations")
  endif()
  file(WRITE "${_out}.tmp" "#include \"cudaemu/device.h\"\n#line 1 \"${_in}\"\n${_text}")
  configure_file("${_out}.tmp" "${_out}" COPYONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_in}")
  string(REGEX MATCHALL "#include \"[^\"]+\\.cuh\"" _includes "${_text}")
  foreach(_include IN LISTS _includes)
    string(REGEX REPLACE "#include \"([^\"]+)\"" "\\1" _header "${_include}")
    get_property(_done GLOBAL PROPERTY CUDAEMU_REWRITTEN_HEADERS)
    if(EXISTS "${PROJECT_SOURCE_DIR}/${_header}" AND NOT _header IN_LIST _done)
      set_property(GLOBAL APPEND PROPERTY CUDAEMU_REWRITTEN_HEADERS "${_header}")
      _cudaemu_rewrite("${PROJECT_SOURCE_DIR}/${_header}" "${PROJECT_BINARY_DIR}/cudaemu/${_header}")
    endif()
  endforeach()
endfunction()

# cudanet_cuda_sources(<target> <files.cu...>): add the rewritten files to <target>. The rewrite
# happens at configure time (an edited .cu or .cuh file re-runs it).
function(cudanet_cuda_sources target)
  foreach(_cu IN LISTS ARGN)
    file(RELATIVE_PATH _rel "${PROJECT_SOURCE_DIR}" "${_cu}")
    set(_out "${PROJECT_BINARY_DIR}/cudaemu/${_rel}.cc")
    _cudaemu_rewrite("${_cu}" "${_out}")
    target_sources(${target} PRIVATE "${_out}")
    # nvcc's #pragma unroll means nothing to the host compiler. -march=native: the kernels' fmaf
    # becomes one instruction instead of a libm call (the emulator runs where it is built; ISO
    # C++ mode still contracts nothing else into FMAs).
    set_source_files_properties(
      "${_out}" TARGET_DIRECTORY ${target} PROPERTIES
      COMPILE_OPTIONS
      "-iquote;${PROJECT_BINARY_DIR}/cudaemu;-Wno-unknown-pragmas;${CUDAEMU_ARCH_FLAGS};${CUDAEMU_INSTRUMENT_FLAGS}")
  endforeach()
endfunction()
