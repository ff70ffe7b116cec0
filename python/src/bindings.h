// Shared declarations of the nanobind extension cudanet._cudanet.
//
// The module is split by area: tensor.cc (Tensor, devices, DLPack), ops.cc (functional ops with
// explicit backward), nn.cc (layers, Sequential, losses, models), train.cc (optimizers, data,
// checkpoints, training steps) and module.cc (the module, error translation, build info).
//
// Note: the GIL. Every call that computes on tensors (ops, forward/backward, optimizer steps,
// data loading, training) converts its Python arguments first and then releases the GIL, so
// other Python threads run meanwhile. Nothing inside a released region touches a Python object;
// memory imported through DLPack takes the GIL itself when its last tensor releases it.
#pragma once

#include <array>
#include <cstdint>
#include <nanobind/nanobind.h>
#include <string>

#include "core/device.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace cudanet::python {

namespace nb = nanobind;

void bind_errors(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_ops(nb::module_& m);
void bind_nn(nb::module_& m);
void bind_train(nb::module_& m);

// "cpu", "cuda", "cuda:N" (ValueError otherwise).
Device parse_device(const std::string& name);
// An int, or a pair of ints (a tuple or list of two), as PyTorch's kernel_size / stride / padding
// take; ValueError naming `what` for anything else or a value below `minimum`.
std::array<std::int64_t, 2> int_pair(nb::handle value, const char* what, std::int64_t minimum);
// Python tuple of a shape.
nb::tuple shape_tuple(const Shape& shape);
Shape to_shape(nb::handle sequence, const char* what);

}  // namespace cudanet::python
