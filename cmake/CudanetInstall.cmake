# Installation and the CMake package: an outside project does
#   find_package(cudanet REQUIRED)
#   target_link_libraries(app PRIVATE cudanet::cudanet)
# and includes <cudanet/cudanet.h>.
include(CMakePackageConfigHelpers)

set(CUDANET_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cudanet")

set(_cudanet_installed cudanet)
if(CUDANET_CUDA_EMULATED)
  list(APPEND _cudanet_installed cudaemu)  # libcudanet links the emulator in place of libcudart
endif()
install(TARGETS ${_cudanet_installed} EXPORT cudanetTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS cudanet_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Public headers keep their source layout under include/cudanet/.
foreach(dir core kernels layers train)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudanet/${dir}
    FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/include/cudanet/cudanet.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudanet)
install(FILES ${CUDANET_GENERATED_DIR}/core/config.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cudanet/core)

install(EXPORT cudanetTargets NAMESPACE cudanet:: DESTINATION ${CUDANET_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cudanetConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cudanetConfig.cmake
  INSTALL_DESTINATION ${CUDANET_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cudanetConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cudanetConfig.cmake
  ${PROJECT_BINARY_DIR}/cudanetConfigVersion.cmake
  DESTINATION ${CUDANET_INSTALL_CMAKEDIR})
