# CUDA toolkit and cuDNN detection (CUDANET_CUDA: AUTO, ON, OFF or EMULATE).
#   CUDANET_WITH_CUDA / CUDANET_WITH_CUDNN are the resolved (boolean) results.
include(CheckLanguage)

set(CUDANET_WITH_CUDA OFF)
set(CUDANET_WITH_CUDNN OFF)
set(CUDANET_CUDA_EMULATED OFF)

if(CUDANET_CUDA STREQUAL "EMULATE")
  # The CUDA backend on a CPU emulation of one device (tools/cudaemu): the GPU tests run on a
  # machine without a GPU. No nvcc; cuDNN is the emulator's stand-in (unless CUDANET_CUDNN=OFF).
  # For checking the backends' logic, not for speed.
  include(${PROJECT_SOURCE_DIR}/tools/cudaemu/cudaemu.cmake)
  set(CUDANET_WITH_CUDA ON)
  set(CUDANET_CUDA_EMULATED ON)
  if(NOT CUDANET_CUDNN STREQUAL "OFF")
    add_library(cudanet_cudnn_lib INTERFACE)
    target_link_libraries(cudanet_cudnn_lib INTERFACE cudaemu)
    set(CUDANET_WITH_CUDNN ON)
  endif()
  message(STATUS "cudanet: CUDA backend on the cudaemu CPU emulator (no GPU code is compiled; "
                 "cuDNN=${CUDANET_WITH_CUDNN}, the emulator's stand-in)")
elseif(NOT CUDANET_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Default: Hopper (sm_90 SASS + compute_90 PTX). Override with -DCMAKE_CUDA_ARCHITECTURES=...
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CUDANET_WITH_CUDA ON)
  elseif(CUDANET_CUDA STREQUAL "ON")
    message(FATAL_ERROR "CUDANET_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  else()
    message(STATUS "cudanet: no CUDA toolkit found; building the CPU-only library")
  endif()
endif()

if(CUDANET_WITH_CUDA AND NOT CUDANET_CUDA_EMULATED AND NOT CUDANET_CUDNN STREQUAL "OFF")
  # Where cuDNN may be: CUDNN_ROOT (CMake or environment) or CUDNN_PATH, the toolkit, the system,
  # and, failing those, the cuDNN wheel of the machine's Python (nvidia-cudnn-cu12/-cu13, which
  # PyTorch installs: site-packages/nvidia/cudnn/{include,lib}). A wheel holds only versioned
  # library names (libcudnn.so.9), hence the second name; libcudnn.so.9 finds its sub-libraries
  # through its own $ORIGIN run path.
  set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} $ENV{CUDNN_PATH})
  find_path(CUDANET_CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(CUDANET_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 NAMES_PER_DIR
               HINTS ${_cudnn_hints} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib64 lib)
  if(NOT CUDANET_CUDNN_INCLUDE_DIR OR NOT CUDANET_CUDNN_LIBRARY)
    find_program(CUDANET_CUDNN_PYTHON NAMES python3 python)
    if(CUDANET_CUDNN_PYTHON)
      execute_process(
        COMMAND "${CUDANET_CUDNN_PYTHON}" -c
                "import nvidia.cudnn as m; print(list(m.__path__)[0])"
        OUTPUT_VARIABLE _cudnn_wheel OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_cudnn_wheel)
        message(STATUS "cudanet: looking for cuDNN in the Python wheel at ${_cudnn_wheel}")
        find_path(CUDANET_CUDNN_INCLUDE_DIR cudnn.h HINTS "${_cudnn_wheel}/include" NO_DEFAULT_PATH)
        find_library(CUDANET_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 NAMES_PER_DIR
                     HINTS "${_cudnn_wheel}/lib" NO_DEFAULT_PATH)
      endif()
    endif()
  endif()
  set(CUDANET_CUDNN_VERSION "")
  foreach(_h cudnn_version.h cudnn.h)
    if(CUDANET_CUDNN_INCLUDE_DIR AND EXISTS "${CUDANET_CUDNN_INCLUDE_DIR}/${_h}"
       AND NOT CUDANET_CUDNN_VERSION)
      file(STRINGS "${CUDANET_CUDNN_INCLUDE_DIR}/${_h}" _v REGEX "#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
      string(REGEX MATCH "MAJOR +([0-9]+)" _m "${_v}")
      set(_major ${CMAKE_MATCH_1})
      string(REGEX MATCH "MINOR +([0-9]+)" _m "${_v}")
      set(_minor ${CMAKE_MATCH_1})
      if(_major)
        set(CUDANET_CUDNN_VERSION "${_major}.${_minor}")
      endif()
    endif()
  endforeach()
  if(CUDANET_CUDNN_INCLUDE_DIR AND CUDANET_CUDNN_LIBRARY AND CUDANET_CUDNN_VERSION VERSION_LESS 9)
    # The backend uses cuDNN 9's headers (cudnn_ops.h, CUDNN_FMA_MATH semantics): an older or
    # unreadable version builds without it rather than failing to compile.
    message(STATUS "cudanet: cuDNN at ${CUDANET_CUDNN_INCLUDE_DIR} is version "
                   "'${CUDANET_CUDNN_VERSION}', not 9.x: building without the cuDNN backend")
  elseif(CUDANET_CUDNN_INCLUDE_DIR AND CUDANET_CUDNN_LIBRARY)
    add_library(cudanet_cudnn_lib INTERFACE)
    target_include_directories(cudanet_cudnn_lib INTERFACE ${CUDANET_CUDNN_INCLUDE_DIR})
    target_link_libraries(cudanet_cudnn_lib INTERFACE ${CUDANET_CUDNN_LIBRARY})
    set(CUDANET_WITH_CUDNN ON)
    message(STATUS "cudanet: cuDNN ${CUDANET_CUDNN_VERSION}: ${CUDANET_CUDNN_LIBRARY}")
  endif()
  if(NOT CUDANET_WITH_CUDNN)
    if(CUDANET_CUDNN STREQUAL "ON")
      message(FATAL_ERROR "CUDANET_CUDNN=ON but cuDNN 9 (cudnn.h / libcudnn) was not found: set "
                          "CUDNN_ROOT, or install nvidia-cudnn-cu12/cu13 for python3")
    endif()
    message(STATUS "cudanet: cuDNN 9 not found (header: ${CUDANET_CUDNN_INCLUDE_DIR}, library: "
                   "${CUDANET_CUDNN_LIBRARY}); building without the cuDNN backend (its tests "
                   "skip). Set CUDNN_ROOT to point at one.")
  endif()
elseif(CUDANET_CUDNN STREQUAL "ON" AND NOT CUDANET_WITH_CUDA)
  message(FATAL_ERROR "CUDANET_CUDNN=ON needs the CUDA backend (CUDANET_CUDA)")
endif()

# cudanet_target_cuda_sources(<target> <files...>): CUDA-backend sources (.cu and host .cc). On the
# emulator the .cu files go through cudanet_cuda_sources() (tools/cudaemu/cudaemu.cmake), rewritten
# for the host compiler; otherwise nvcc builds them.
function(cudanet_target_cuda_sources target)
  set(_sources ${ARGN})
  if(CUDANET_CUDA_EMULATED)
    set(_cu ${_sources})
    list(FILTER _cu INCLUDE REGEX "\\.cu$")
    list(FILTER _sources EXCLUDE REGEX "\\.cu$")
    cudanet_cuda_sources(${target} ${_cu})
  endif()
  target_sources(${target} PRIVATE ${_sources})
endfunction()
