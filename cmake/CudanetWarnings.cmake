# Warnings and sanitizers for cudanet targets.
#   cudanet_set_warnings(target): -Wall -Wextra for host code, nvcc's own warnings for device code
#   (ptxas's on register spills and local memory included), everything an error with
#   CUDANET_WERROR; host sanitizers from CUDANET_SANITIZE.
function(cudanet_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wnon-virtual-dtor>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --Wreorder --Wno-deprecated-gpu-targets>
    # ptxas: a kernel that spills registers or keeps an array in local memory is a performance
    # bug (an error with CUDANET_WERROR); tools/kernel_resources.py shows every kernel's budget.
    $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-warn-spills,-warn-lmem-usage>)
  if(CUDANET_WERROR)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Werror>
      $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-Werror>)
  endif()
  if(CUDANET_SANITIZE)
    list(JOIN CUDANET_SANITIZE "," _san)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()
