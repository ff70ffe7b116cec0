# Optional host libraries.
#   OpenBLAS (CBLAS interface) for the CPU GEMM; without it the CPU GEMM is a blocked loop.
set(CUDANET_WITH_OPENBLAS OFF)
find_path(CUDANET_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread openblas-pthread)
find_library(CUDANET_OPENBLAS_LIBRARY NAMES openblas)
if(CUDANET_CBLAS_INCLUDE_DIR AND CUDANET_OPENBLAS_LIBRARY)
  set(CUDANET_WITH_OPENBLAS ON)
else()
  message(STATUS "cudanet: OpenBLAS not found; the CPU GEMM uses the built-in blocked loop")
endif()

#   zlib for gzip-compressed IDX files (MNIST / Fashion-MNIST); without it only plain IDX reads.
find_package(ZLIB QUIET)
set(CUDANET_WITH_ZLIB ${ZLIB_FOUND})
if(NOT ZLIB_FOUND)
  message(STATUS "cudanet: zlib not found; gzip-compressed data files cannot be read")
endif()

#   nlohmann-json (header-only) for safetensors headers and metrics: required.
find_package(nlohmann_json 3.9 REQUIRED)

#   libjpeg-turbo's TurboJPEG API for the JPEG image pipeline (ImageFolder / list-file data sets,
#   make-synthetic-imagefolder); without it those features throw an error that says so.
find_path(CUDANET_TURBOJPEG_INCLUDE_DIR turbojpeg.h)
find_library(CUDANET_TURBOJPEG_LIBRARY NAMES turbojpeg)
if(CUDANET_TURBOJPEG_INCLUDE_DIR AND CUDANET_TURBOJPEG_LIBRARY)
  set(CUDANET_WITH_TURBOJPEG ON)
else()
  set(CUDANET_WITH_TURBOJPEG OFF)
  message(STATUS "cudanet: libjpeg-turbo (TurboJPEG) not found; JPEG data sets are unavailable "
                 "(Debian: libturbojpeg0-dev)")
endif()
