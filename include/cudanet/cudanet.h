// cudanet: the umbrella header. `#include <cudanet/cudanet.h>` gives the whole public API.
#pragma once

#include "core/allocator.h"
#include "core/config.h"
#include "core/cuda_allocator.h"
#include "core/cuda_runtime.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "core/philox.h"
#include "core/pinned_allocator.h"
#include "core/random.h"
#include "core/storage.h"
#include "core/stream.h"
#include "core/tensor.h"
#include "core/version.h"
