#include "core/nvtx.h"

#include "core/config.h"

#if CUDANET_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace cudanet {

namespace {
thread_local int t_depth = 0;
}

ScopedRange::ScopedRange(const char* name) {
#if CUDANET_WITH_CUDA
  nvtxRangePushA(name);
#else
  (void)name;
#endif
  ++t_depth;
}

ScopedRange::~ScopedRange() {
#if CUDANET_WITH_CUDA
  nvtxRangePop();
#endif
  --t_depth;
}

int open_range_depth() {
  return t_depth;
}

}  // namespace cudanet
