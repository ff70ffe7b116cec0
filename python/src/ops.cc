// cudanet._cudanet.ops: the functional ops, each forward with an explicit backward that returns
// the gradients in argument order. NCHW tensors, float32 or float64.
//
// Note: the backward functions take the forward's inputs, as PyTorch's autograd formulas do, and
// recompute what the kernels need from them (the max-pool argmax, the LRN scale, the sigmoid /
// tanh output). Inputs that are not contiguous (DLPack views of transposes) are copied first.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/tuple.h>
#include <optional>
#include <tuple>

#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/linear.h"
#include "kernels/lrn.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"
#include "python/src/bindings.h"

namespace cudanet::python {
namespace {

using OptTensor = std::optional<Tensor>;
using Grads3 = std::tuple<Tensor, Tensor, OptTensor>;
using nb::arg;
using Release = nb::gil_scoped_release;

Tensor c(const Tensor& t) {
  return t.contiguous();
}

kernels::Conv2dParams conv_params(nb::handle stride, nb::handle padding, nb::handle dilation,
                                  std::int64_t groups) {
  const auto s = int_pair(stride, "stride", 1);
  const auto p = int_pair(padding, "padding", 0);
  const auto d = int_pair(dilation, "dilation", 1);
  kernels::Conv2dParams params;
  params.stride_h = s[0];
  params.stride_w = s[1];
  params.pad_h = p[0];
  params.pad_w = p[1];
  params.dilation_h = d[0];
  params.dilation_w = d[1];
  params.groups = groups;
  return params;
}

kernels::Pool2dParams pool_params(nb::handle kernel_size, nb::handle stride, nb::handle padding) {
  const auto k = int_pair(kernel_size, "kernel_size", 1);
  const auto s = stride.is_none() ? k : int_pair(stride, "stride", 1);
  const auto p = int_pair(padding, "padding", 0);
  return {k[0], k[1], s[0], s[1], p[0], p[1], true};
}

kernels::LrnParams lrn_params(std::int64_t size, double alpha, double beta, double k) {
  kernels::LrnParams p;
  p.size = size;
  p.alpha = alpha;
  p.beta = beta;
  p.k = k;
  return p;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const OptTensor& b, nb::handle stride,
              nb::handle padding, nb::handle dilation, std::int64_t groups) {
  const auto p = conv_params(stride, padding, dilation, groups);
  Release release;
  const Tensor bias = b ? c(*b) : Tensor();
  return kernels::conv2d_forward(c(x), c(w), b ? &bias : nullptr, p);
}

Grads3 conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const OptTensor& b,
                       nb::handle stride, nb::handle padding, nb::handle dilation,
                       std::int64_t groups) {
  const auto p = conv_params(stride, padding, dilation, groups);
  Release release;
  const Tensor dyc = c(dy), xc = c(x), wc = c(w);
  // Validate the shapes as the forward would, so a mismatched dy names the problem.
  const auto g = kernels::conv2d_geometry(xc.shape(), wc.shape(), p, "conv2d_backward");
  CUDANET_CHECK(dyc.shape() == g.y_shape(), ShapeError, "conv2d_backward: dy has shape ",
                shape_str(dyc.shape()), ", the forward's output has ", shape_str(g.y_shape()));
  if (b) {
    CUDANET_CHECK(b->shape() == Shape{g.k}, ShapeError, "conv2d_backward: bias has shape ",
                  shape_str(b->shape()), ", expected [", g.k, "]");
  }
  Tensor dx = kernels::conv2d_backward_data(dyc, wc, xc.shape(), p);
  Tensor dw = kernels::conv2d_backward_filter(dyc, xc, wc.shape(), p);
  OptTensor db;
  if (b) db = kernels::conv2d_backward_bias(dyc);
  return {dx, dw, db};
}

Tensor linear(const Tensor& x, const Tensor& w, const OptTensor& b) {
  Release release;
  const Tensor bias = b ? c(*b) : Tensor();
  return kernels::linear_forward(c(x), c(w), b ? &bias : nullptr);
}

Grads3 linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const OptTensor& b) {
  Release release;
  const Tensor xc = c(x), wc = c(w), dyc = c(dy);
  CUDANET_CHECK(xc.dim() == 2 && wc.dim() == 2, ShapeError, "linear_backward: x ",
                shape_str(xc.shape()), " and w ", shape_str(wc.shape()), " must be 2-D");
  CUDANET_CHECK(dyc.shape() == (Shape{xc.size(0), wc.size(0)}), ShapeError,
                "linear_backward: dy has shape ", shape_str(dyc.shape()), ", expected [",
                xc.size(0), ", ", wc.size(0), "]");
  if (b) {
    CUDANET_CHECK(b->shape() == Shape{wc.size(0)}, ShapeError, "linear_backward: bias has shape ",
                  shape_str(b->shape()), ", expected [", wc.size(0), "]");
  }
  auto g = kernels::linear_backward(dyc, xc, wc, b.has_value());
  OptTensor db;
  if (b) db = g.db;
  return {g.dx, g.dw, db};
}

void check_like(const Tensor& dy, const Shape& expected, const char* op) {
  CUDANET_CHECK(dy.shape() == expected, ShapeError, op, ": dy has shape ", shape_str(dy.shape()),
                ", expected ", shape_str(expected));
}

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& x, nb::handle k, nb::handle s,
                           nb::handle p) {
  const auto params = pool_params(k, s, p);
  Release release;
  Tensor argmax;
  const Tensor xc = c(x);
  kernels::max_pool2d_forward(xc, params, &argmax);
  check_like(dy, argmax.shape(), "max_pool2d_backward");
  return kernels::max_pool2d_backward(c(dy), argmax, xc.shape(), params);
}

Tensor avg_pool2d_backward(const Tensor& dy, const Tensor& x, nb::handle k, nb::handle s,
                           nb::handle p) {
  const auto params = pool_params(k, s, p);
  Release release;
  check_like(dy, kernels::pool2d_output_shape(x.shape(), params), "avg_pool2d_backward");
  return kernels::avg_pool2d_backward(c(dy), x.shape(), params);
}

// Activations: the backward takes the forward's input x (sigmoid and tanh recompute y).
template <Tensor (*Forward)(const Tensor&)>
Tensor unary(const Tensor& x) {
  Release release;
  return Forward(c(x));
}

Tensor activation_backward(kernels::Activation kind, const Tensor& dy, const Tensor& x,
                           const char* op) {
  Release release;
  const Tensor xc = c(x);
  check_like(dy, xc.shape(), op);
  const bool needs_y = kind == kernels::Activation::kSigmoid || kind == kernels::Activation::kTanh;
  const Tensor x_or_y = needs_y ? kernels::activation_forward(kind, xc) : xc;
  return kernels::activation_backward(kind, c(dy), x_or_y);
}

}  // namespace

void bind_ops(nb::module_& m) {
  const auto none = nb::none();
  m.def("conv2d", &conv2d, arg("x"), arg("w"), arg("b") = none, arg("stride") = 1,
        arg("padding") = 0, arg("dilation") = 1, arg("groups") = 1,
        "2-D cross-correlation: x [N, C, H, W], w [K, C/groups, R, S], b [K] -> [N, K, P, Q].");
  m.def("conv2d_backward", &conv2d_backward, arg("dy"), arg("x"), arg("w"), arg("b") = none,
        arg("stride") = 1, arg("padding") = 0, arg("dilation") = 1, arg("groups") = 1,
        "(dx, dw, db) for dy = dL/dy; db is None when b is None.");
  m.def("linear", &linear, arg("x"), arg("w"), arg("b") = none, "y = x w^T + b.");
  m.def("linear_backward", &linear_backward, arg("dy"), arg("x"), arg("w"), arg("b") = none,
        "(dx, dw, db) for dy = dL/dy; db is None when b is None.");
  m.def(
      "max_pool2d",
      [](const Tensor& x, nb::handle k, nb::handle s, nb::handle p) {
        const auto params = pool_params(k, s, p);
        Release release;
        return kernels::max_pool2d_forward(c(x), params, nullptr);
      },
      arg("x"), arg("kernel_size"), arg("stride") = none, arg("padding") = 0);
  m.def("max_pool2d_backward", &max_pool2d_backward, arg("dy"), arg("x"), arg("kernel_size"),
        arg("stride") = none, arg("padding") = 0);
  m.def(
      "avg_pool2d",
      [](const Tensor& x, nb::handle k, nb::handle s, nb::handle p) {
        const auto params = pool_params(k, s, p);
        Release release;
        return kernels::avg_pool2d_forward(c(x), params);
      },
      arg("x"), arg("kernel_size"), arg("stride") = none, arg("padding") = 0,
      "Average pooling; padded zeros count (PyTorch's count_include_pad=True).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, arg("dy"), arg("x"), arg("kernel_size"),
        arg("stride") = none, arg("padding") = 0);

  m.def("relu", &unary<kernels::relu_forward>, arg("x"));
  m.def("sigmoid", &unary<kernels::sigmoid_forward>, arg("x"));
  m.def("tanh", &unary<kernels::tanh_forward>, arg("x"));
  m.def(
      "relu_backward",
      [](const Tensor& dy, const Tensor& x) {
        return activation_backward(kernels::Activation::kReLU, dy, x, "relu_backward");
      },
      arg("dy"), arg("x"));
  m.def(
      "sigmoid_backward",
      [](const Tensor& dy, const Tensor& x) {
        return activation_backward(kernels::Activation::kSigmoid, dy, x, "sigmoid_backward");
      },
      arg("dy"), arg("x"));
  m.def(
      "tanh_backward",
      [](const Tensor& dy, const Tensor& x) {
        return activation_backward(kernels::Activation::kTanh, dy, x, "tanh_backward");
      },
      arg("dy"), arg("x"));

  m.def(
      "local_response_norm",
      [](const Tensor& x, std::int64_t size, double alpha, double beta, double k) {
        Release release;
        return kernels::lrn_forward(c(x), lrn_params(size, alpha, beta, k), nullptr);
      },
      arg("x"), arg("size") = 5, arg("alpha") = 1e-4, arg("beta") = 0.75, arg("k") = 1.0);
  m.def(
      "local_response_norm_backward",
      [](const Tensor& dy, const Tensor& x, std::int64_t size, double alpha, double beta,
         double k) {
        Release release;
        const auto p = lrn_params(size, alpha, beta, k);
        const Tensor xc = c(x);
        Tensor scale;
        const Tensor y = kernels::lrn_forward(xc, p, &scale);
        check_like(dy, xc.shape(), "local_response_norm_backward");
        return kernels::lrn_backward(c(dy), xc, y, scale, p);
      },
      arg("dy"), arg("x"), arg("size") = 5, arg("alpha") = 1e-4, arg("beta") = 0.75,
      arg("k") = 1.0);

  m.def(
      "softmax_cross_entropy",
      [](const Tensor& logits, const Tensor& labels) {
        Release release;
        return kernels::softmax_cross_entropy_forward(c(logits), c(labels));
      },
      arg("logits"), arg("labels"),
      "Mean over the batch of -log softmax(logits)[label]; logits [N, C], labels int64 [N].");
  m.def(
      "softmax_cross_entropy_backward",
      [](const Tensor& logits, const Tensor& labels) {
        Release release;
        return kernels::softmax_cross_entropy_backward(c(logits), c(labels), 1.0, true);
      },
      arg("logits"), arg("labels"));
  m.def(
      "dropout",
      [](const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset) {
        Release release;
        auto r = kernels::dropout_forward(c(x), p, seed, offset);
        return std::make_pair(r.y, r.mask);
      },
      arg("x"), arg("p"), arg("seed"), arg("offset") = 0,
      "(y, mask): elements kept with probability 1 - p and scaled by 1/(1 - p); mask uint8.");
  m.def(
      "dropout_backward",
      [](const Tensor& dy, const Tensor& mask, double p) {
        Release release;
        return kernels::dropout_backward(c(dy), c(mask), p);
      },
      arg("dy"), arg("mask"), arg("p"));
}

}  // namespace cudanet::python
