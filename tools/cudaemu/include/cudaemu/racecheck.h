// cudaemu: the data-race checker's switch (tools/cudaemu/README.md, "Data races").
#pragma once

namespace cudaemu {

// Whether kernels launched from now on, on any thread, are checked for data races. Initially on
// when the environment sets CUDAEMU_RACECHECK=1.
void set_racecheck(bool on);
bool racecheck_enabled();

// Whether code built with the checker's instrumentation is loaded (only instrumented code is
// checked: the .cu files of an emulated build configured with CUDAEMU_RACECHECK=ON).
bool racecheck_instrumented();

}  // namespace cudaemu
