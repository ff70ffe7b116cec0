# Installation and the CMake package: find_package(cudanet) -> cudanet::cudanet.
include(CMakePackageConfigHelpers)
