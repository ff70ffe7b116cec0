// cudaemu: <cuda_runtime.h> = the runtime API plus the device-code vocabulary.
#pragma once

#include "cuda_runtime_api.h"
#include "cudaemu/device.h"
