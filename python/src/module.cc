// The extension module cudanet._cudanet: error translation, build information and the pieces
// bound in the other files (see bindings.h).
#include <exception>
#include <nanobind/stl/string.h>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/random.h"
#include "core/version.h"
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "python/src/bindings.h"

namespace cudanet::python {

std::array<std::int64_t, 2> int_pair(nb::handle value, const char* what, std::int64_t minimum) {
  std::array<std::int64_t, 2> v{};
  if (PyLong_Check(value.ptr()) && !PyBool_Check(value.ptr())) {
    v[0] = v[1] = nb::cast<std::int64_t>(value);
  } else if ((PyTuple_Check(value.ptr()) || PyList_Check(value.ptr())) && nb::len(value) == 2 &&
             PyLong_Check(value[0].ptr()) && PyLong_Check(value[1].ptr())) {
    v[0] = nb::cast<std::int64_t>(value[0]);
    v[1] = nb::cast<std::int64_t>(value[1]);
  } else {
    CUDANET_THROW(ValueError, what, " must be an int or a pair of ints, got ",
                  nb::str(value).c_str());
  }
  CUDANET_CHECK(v[0] >= minimum && v[1] >= minimum, ValueError, what, " must be >= ", minimum,
                ", got (", v[0], ", ", v[1], ")");
  return v;
}

void bind_errors(nb::module_&) {
  // Note: the message keeps the C++ location ("file:line: message"), as what() reads.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Error& e) {  // CudaError and anything else of cudanet's
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace cudanet::python

NB_MODULE(_cudanet, m) {
  using namespace cudanet;
  using namespace cudanet::python;
  m.doc() = "cudanet's C++ core (nanobind); use the package `cudanet`.";
  bind_errors(m);
  bind_tensor(m);
  nb::module_ ops = m.def_submodule("ops", "functional ops with explicit backward");
  bind_ops(ops);
  bind_nn(m);
  bind_train(m);

  m.def("version", &version);
  m.def("cuda_is_available", &cuda::is_available, "True when a GPU can be used.");
  m.def("cuda_device_count", &cuda::device_count);
  m.def("cuda_unavailable_reason", &cuda::unavailable_reason);
  m.def("manual_seed", &manual_seed, nb::arg("seed"),
        "Seeds the default generator (weight initialisation, dropout).");
  m.def("set_deterministic", &kernels::set_deterministic, nb::arg("on"),
        "Bitwise-repeatable kernels (no atomics in reductions; deterministic cuDNN algorithms).");
  m.def("deterministic", &kernels::deterministic);
  m.def("set_allow_tf32", &kernels::set_allow_tf32, nb::arg("on"),
        "Whether FP32 convolutions and matrix products may use TF32 tensor cores (default off).");
  m.def("allow_tf32", &kernels::allow_tf32);
  m.attr("with_cuda") = bool{CUDANET_WITH_CUDA};
  m.attr("with_cudnn") = bool{CUDANET_WITH_CUDNN};
}
