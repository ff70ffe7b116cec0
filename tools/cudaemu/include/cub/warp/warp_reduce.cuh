// cudaemu: see cudaemu/cub.h.
#pragma once

#include "cudaemu/cub.h"
