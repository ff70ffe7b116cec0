// cudanet.Tensor: metadata, device and dtype moves, printing, and zero-copy exchange through
// DLPack (__dlpack__ / __dlpack_device__ / from_dlpack).
//
// Note: DLPack ownership. An export hands the consumer a capsule whose manager context holds a
// Tensor handle, so the memory lives until the consumer calls the deleter (or, if nobody takes
// the capsule, until the capsule dies). An import wraps the producer's DLManagedTensor in an
// external Storage whose deleter calls the producer's deleter with the GIL held (NumPy's releases
// a Python object). For CUDA memory the stream handshake of the protocol orders the work: the
// producer makes the consumer's stream wait for its own.
#include <cstdint>
#include <memory>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/stream.h"
#include "python/src/bindings.h"
#include "python/src/dlpack.h"

namespace cudanet::python {
namespace {

// ---- dtype and device mapping ------------------------------------------------------------------
dlpack::DataType to_dl(DType t) {
  switch (t) {
    case DType::kFloat32:
      return {dlpack::kFloat, 32, 1};
    case DType::kFloat64:
      return {dlpack::kFloat, 64, 1};
    case DType::kFloat16:
      return {dlpack::kFloat, 16, 1};
    case DType::kBFloat16:
      return {dlpack::kBfloat, 16, 1};
    case DType::kInt32:
      return {dlpack::kInt, 32, 1};
    case DType::kInt64:
      return {dlpack::kInt, 64, 1};
    case DType::kUInt8:
      break;
  }
  return {dlpack::kUInt, 8, 1};
}

DType from_dl(const dlpack::DataType& t) {
  const auto is = [&](std::uint8_t code, std::uint8_t bits) {
    return t.code == code && t.bits == bits && t.lanes == 1;
  };
  if (is(dlpack::kFloat, 32)) return DType::kFloat32;
  if (is(dlpack::kFloat, 64)) return DType::kFloat64;
  if (is(dlpack::kFloat, 16)) return DType::kFloat16;
  if (is(dlpack::kBfloat, 16)) return DType::kBFloat16;
  if (is(dlpack::kInt, 32)) return DType::kInt32;
  if (is(dlpack::kInt, 64)) return DType::kInt64;
  if (is(dlpack::kUInt, 8)) return DType::kUInt8;
  CUDANET_THROW(ValueError, "from_dlpack: unsupported element type (DLPack code ", int{t.code},
                ", ", int{t.bits}, " bits, ", t.lanes,
                " lanes); cudanet holds float32, float64, float16, bfloat16, int32, int64, uint8");
}

Device device_from_dl(const dlpack::Device& d) {
  switch (d.device_type) {
    case dlpack::kCPU:
    case dlpack::kCUDAHost:
      return Device::cpu();
    case dlpack::kCUDA:
    case dlpack::kCUDAManaged:
      return Device::cuda(d.device_id);
    default:
      CUDANET_THROW(ValueError, "from_dlpack: unsupported device type ", d.device_type,
                    " (cudanet takes CPU and CUDA memory)");
  }
}

// The DLPack stream number of a cudanet stream: 1 is the legacy default stream.
std::intptr_t dl_stream(const Stream& s) {
  return s.handle() == nullptr ? 1 : static_cast<std::intptr_t>(s.id());
}

// ---- export ------------------------------------------------------------------------------------
struct Export {
  Tensor tensor;
  std::vector<std::int64_t> shape, strides;
  dlpack::ManagedTensor managed{};
};

void capsule_destructor(PyObject* capsule) noexcept {
  if (PyCapsule_IsValid(capsule, dlpack::kUsedCapsuleName)) return;  // a consumer owns it
  auto* m =
      static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(capsule, dlpack::kCapsuleName));
  if (m == nullptr) {
    PyErr_WriteUnraisable(capsule);
    return;
  }
  if (m->deleter != nullptr) m->deleter(m);
}

nb::object to_dlpack(const Tensor& t, nb::handle stream) {
  if (t.device().is_cuda()) {
    // The consumer reads on `stream` (None: the legacy default stream); make it wait for ours.
    const Stream ours = current_stream(t.device());
    std::intptr_t theirs = stream.is_none() ? 1 : nb::cast<std::intptr_t>(stream);
    CUDANET_CHECK(theirs != 0, ValueError,
                  "__dlpack__: stream 0 is ambiguous for CUDA (pass 1 or 2, or a stream handle)");
    if (theirs != -1 && theirs != dl_stream(ours)) {
      Event ready(t.device());
      ready.record(ours);
      Stream(t.device(), reinterpret_cast<void*>(theirs)).wait(ready);
    }
  }
  auto* e = new Export{t, t.shape(), t.strides(), {}};
  auto& dl = e->managed.dl_tensor;
  dl.data = t.numel() == 0 ? nullptr : t.data_ptr();
  dl.device = t.device().is_cuda()
                  ? dlpack::Device{dlpack::kCUDA, static_cast<std::int32_t>(t.device().index())}
                  : dlpack::Device{dlpack::kCPU, 0};
  dl.ndim = static_cast<std::int32_t>(t.dim());
  dl.dtype = to_dl(t.dtype());
  dl.shape = e->shape.data();
  dl.strides = e->strides.data();
  dl.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](dlpack::ManagedTensor* self) {
    delete static_cast<Export*>(self->manager_ctx);
  };
  PyObject* capsule = PyCapsule_New(&e->managed, dlpack::kCapsuleName, capsule_destructor);
  if (capsule == nullptr) {
    delete e;
    throw nb::python_error();
  }
  return nb::steal(capsule);
}

// ---- import ------------------------------------------------------------------------------------
void release_import(void* context, void*) noexcept {
  auto* m = static_cast<dlpack::ManagedTensor*>(context);
  if (m->deleter == nullptr || !Py_IsInitialized()) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  m->deleter(m);
  PyGILState_Release(gil);
}

Tensor from_capsule(nb::handle capsule) {
  auto* m = static_cast<dlpack::ManagedTensor*>(
      PyCapsule_GetPointer(capsule.ptr(), dlpack::kCapsuleName));
  if (m == nullptr) {
    PyErr_Clear();
    CUDANET_THROW(ValueError,
                  "from_dlpack: expected a 'dltensor' capsule (one that has not been "
                  "consumed yet)");
  }
  const auto& dl = m->dl_tensor;
  const DType dtype = from_dl(dl.dtype);
  const Device device = device_from_dl(dl.device);
  CUDANET_CHECK(dl.ndim >= 0 && dl.ndim <= kMaxDims, ValueError, "from_dlpack: ", dl.ndim,
                " dimensions; cudanet takes at most ", kMaxDims);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides =
      dl.strides != nullptr ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  std::int64_t extent = 1;  // elements from the first to one past the last
  bool empty = false;
  for (std::int32_t d = 0; d < dl.ndim; ++d) {
    CUDANET_CHECK(strides[d] >= 0, ValueError, "from_dlpack: negative stride ", strides[d],
                  " (copy the array first, e.g. numpy.ascontiguousarray)");
    if (shape[d] == 0) empty = true;
    if (shape[d] > 0) extent += (shape[d] - 1) * strides[d];
  }
  if (empty) extent = 0;
  const std::size_t nbytes = static_cast<std::size_t>(extent) * element_size(dtype);
  void* base = dl.data == nullptr ? nullptr : static_cast<char*>(dl.data) + dl.byte_offset;
  // From here on the storage owns the managed tensor: mark the capsule consumed first.
  PyCapsule_SetName(capsule.ptr(), dlpack::kUsedCapsuleName);
  Storage storage = Storage::from_external(DataPtr(base, m, release_import, device), nbytes);
  if (base == nullptr) {
    // An empty array may come without data: the handle above still releases it.
    Tensor t = Tensor::empty(shape, dtype, Device::cpu());
    return device.is_cpu() ? t : t.to(device);
  }
  return Tensor::from_storage(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

// cudanet.from_dlpack(obj): obj has __dlpack__ (NumPy, PyTorch, CuPy, cudanet) or is a capsule.
Tensor from_dlpack(nb::handle obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(obj);
  if (nb::isinstance<Tensor>(obj)) return nb::cast<Tensor>(obj);
  if (!nb::hasattr(obj, "__dlpack__")) {
    CUDANET_THROW(ValueError, "from_dlpack: a ",
                  nb::borrow<nb::str>(nb::type_name(obj.type())).c_str(),
                  " has no __dlpack__ method");
  }
  nb::object capsule;
  nb::tuple dev = nb::cast<nb::tuple>(obj.attr("__dlpack_device__")());
  const int type = nb::cast<int>(dev[0]);
  if (type == dlpack::kCUDA || type == dlpack::kCUDAManaged) {
    const Stream ours = current_stream(Device::cuda(nb::cast<int>(dev[1])));
    capsule = obj.attr("__dlpack__")(nb::arg("stream") = dl_stream(ours));
  } else {
    capsule = obj.attr("__dlpack__")();
  }
  return from_capsule(capsule);
}

// A NumPy array viewing a CPU tensor's memory (writable, as PyTorch's Tensor.numpy()); the array
// keeps the tensor's storage alive.
nb::object to_numpy(const Tensor& t) {
  CUDANET_CHECK(t.device().is_cpu(), ValueError, "numpy(): the tensor is on ", t.device(),
                "; copy it to the host first (.to('cpu'))");
  CUDANET_CHECK(t.dtype() != DType::kBFloat16, ValueError,
                "numpy(): NumPy has no bfloat16; convert first (.to('float32'))");
  const dlpack::DataType d = to_dl(t.dtype());
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  auto* owner = new Tensor(t);
  nb::capsule keep(owner, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  nb::ndarray<nb::numpy> array(t.data_ptr(), shape.size(), shape.data(), keep, t.strides().data(),
                               nb::dlpack::dtype{d.code, d.bits, d.lanes});
  return array.cast();
}

}  // namespace

Device parse_device(const std::string& name) {
  return Device::parse(name);
}

nb::tuple shape_tuple(const Shape& shape) {
  nb::list l;
  for (auto s : shape) l.append(s);
  return nb::tuple(l);
}

Shape to_shape(nb::handle sequence, const char* what) {
  if (PyLong_Check(sequence.ptr())) return {nb::cast<std::int64_t>(sequence)};
  try {
    return nb::cast<Shape>(sequence);
  } catch (const nb::cast_error&) {
    CUDANET_THROW(ValueError, what, ": expected a sequence of ints, got ",
                  nb::str(sequence).c_str());
  }
}

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor>(m, "Tensor",
                     "An n-dimensional array on the CPU or a GPU (see cudanet.tensor).")
      .def_prop_ro("shape", [](const Tensor& t) { return shape_tuple(t.shape()); })
      .def_prop_ro("strides", [](const Tensor& t) { return shape_tuple(t.strides()); })
      .def_prop_ro("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_prop_ro("device", [](const Tensor& t) { return t.device().str(); })
      .def_prop_ro("ndim", &Tensor::dim)
      .def_prop_ro("data_ptr",
                   [](const Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()); })
      .def("numel", &Tensor::numel)
      .def("__len__",
           [](const Tensor& t) {
             CUDANET_CHECK(t.dim() > 0, ValueError, "len() of a 0-dimensional tensor");
             return t.size(0);
           })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("item", &Tensor::item, nb::call_guard<nb::gil_scoped_release>())
      .def(
          "to_device",
          [](const Tensor& t, const std::string& device) {
            const Device d = parse_device(device);
            nb::gil_scoped_release release;
            return t.to(d);
          },
          nb::arg("device"))
      .def(
          "to_dtype",
          [](const Tensor& t, const std::string& dtype) {
            const DType d = parse_dtype(dtype);
            nb::gil_scoped_release release;
            return t.to(d);
          },
          nb::arg("dtype"))
      .def("contiguous", &Tensor::contiguous, nb::call_guard<nb::gil_scoped_release>())
      .def("clone", &Tensor::clone, nb::call_guard<nb::gil_scoped_release>())
      .def(
          "reshape",
          [](const Tensor& t, nb::args shape) {
            Shape s = shape.size() == 1 && !PyLong_Check(shape[0].ptr())
                          ? to_shape(shape[0], "reshape")
                          : to_shape(shape, "reshape");
            return t.reshape(std::move(s));
          },
          "Same elements in a new shape (one size may be -1); a view when possible.")
      .def("flatten", &Tensor::flatten, nb::arg("start_dim") = 0, nb::arg("end_dim") = -1)
      .def(
          "copy_",
          [](Tensor& t, const Tensor& src) -> Tensor& {
            nb::gil_scoped_release release;
            return t.copy_(src);
          },
          nb::arg("src"), nb::rv_policy::reference)
      .def(
          "fill_",
          [](Tensor& t, double v) -> Tensor& {
            nb::gil_scoped_release release;
            return t.fill_(v);
          },
          nb::arg("value"), nb::rv_policy::reference)
      .def("numpy", &to_numpy,
           "A NumPy array sharing this CPU tensor's memory (writes show in both).")
      .def("__repr__", [](const Tensor& t) { return t.str(); })
      .def(
          "__dlpack__",
          [](const Tensor& t, nb::handle stream, nb::handle, nb::handle, nb::handle copy) {
            // copy=True asks for memory the consumer owns alone (the array API's protocol).
            const bool clone = !copy.is_none() && nb::cast<bool>(copy);
            return to_dlpack(clone ? t.clone() : t, stream);
          },
          nb::arg("stream") = nb::none(), nb::arg("max_version") = nb::none(),
          nb::arg("dl_device") = nb::none(), nb::arg("copy") = nb::none(),
          "A DLPack capsule viewing this tensor's memory (a copy's with copy=True).")
      .def("__dlpack_device__", [](const Tensor& t) {
        const int type = t.device().is_cuda() ? dlpack::kCUDA : dlpack::kCPU;
        return nb::make_tuple(type, t.device().is_cuda() ? t.device().index() : 0);
      });

  m.def("from_dlpack", &from_dlpack, nb::arg("obj"),
        "A cudanet tensor sharing the memory of `obj` (anything with __dlpack__, or a DLPack "
        "capsule): NumPy arrays, PyTorch and CuPy tensors, on the CPU or a GPU.");
  m.def(
      "zeros",
      [](nb::handle shape, const std::string& dtype, const std::string& device) {
        Shape s = to_shape(shape, "zeros");
        const DType t = parse_dtype(dtype);
        const Device d = parse_device(device);
        nb::gil_scoped_release release;
        return Tensor::zeros(s, t, d);
      },
      nb::arg("shape"), nb::arg("dtype") = "float32", nb::arg("device") = "cpu");
  m.def(
      "full",
      [](nb::handle shape, double value, const std::string& dtype, const std::string& device) {
        Shape s = to_shape(shape, "full");
        const DType t = parse_dtype(dtype);
        const Device d = parse_device(device);
        nb::gil_scoped_release release;
        return Tensor::full(s, value, t, d);
      },
      nb::arg("shape"), nb::arg("value"), nb::arg("dtype") = "float32", nb::arg("device") = "cpu");
}

}  // namespace cudanet::python
