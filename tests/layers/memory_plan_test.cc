// The memory plan (docs/memory.md, layers/sequential.h): which layers run in place, that results
// and gradients are bitwise those of the unplanned network (LeNet-5, an AlexNet-like net with
// LRN and dropout, AlexNet itself), that the caller's tensors are never overwritten, and the
// saved-activation accounting, checked against the bytes the layer shapes imply.
#include <functional>
#include <gtest/gtest.h>

#include "kernels/cudnn.h"
#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models.h"
#include "layers/normalization.h"
#include "tensor_testing.h"

namespace cudanet::layers {
namespace {

using testing::all_equal;
constexpr std::int64_t kF = 4;  // bytes of a float32
constexpr std::int64_t kI = 1;  // bytes of a max-pool argmax entry (a uint8 window offset)

// conv-relu-LRN-pool ×2, conv-relu ×2, pool, then fc-relu-dropout ×2 and fc: AlexNet's layer
// sequence at a size the CPU runs in milliseconds. Input [N, 3, 35, 35].
std::unique_ptr<Sequential> small_alexnet(std::uint64_t seed) {
  Generator g(seed);
  auto m = std::make_unique<Sequential>();
  using C = Conv2dOptions;
  m->emplace<Conv2d>("conv1", 3, 8, C::square(5).stride_(2), &g);  // 8@16x16
  m->emplace<ReLU>("relu1");
  m->emplace<LocalResponseNorm>("lrn1", 5, 1e-4, 0.75, 2.0);
  m->emplace<MaxPool2d>("pool1", 3, 2);                              // 8@7x7
  m->emplace<Conv2d>("conv2", 8, 12, C::square(3).padding_(1), &g);  // 12@7x7
  m->emplace<ReLU>("relu2");
  m->emplace<LocalResponseNorm>("lrn2", 5, 1e-4, 0.75, 2.0);
  m->emplace<MaxPool2d>("pool2", 3, 2);                               // 12@3x3
  m->emplace<Conv2d>("conv3", 12, 16, C::square(3).padding_(1), &g);  // 16@3x3
  m->emplace<ReLU>("relu3");
  m->emplace<Conv2d>("conv4", 16, 16, C::square(3).padding_(1), &g);
  m->emplace<ReLU>("relu4");
  m->emplace<MaxPool2d>("pool5", 3, 2);  // 16@1x1
  m->emplace<Flatten>("flatten");
  m->emplace<Linear>("fc6", 16, 32, true, &g);
  m->emplace<ReLU>("relu6");
  m->emplace<Dropout>("drop6", 0.5);
  m->emplace<Linear>("fc7", 32, 32, true, &g);
  m->emplace<ReLU>("relu7");
  m->emplace<Dropout>("drop7", 0.5);
  m->emplace<Linear>("fc8", 32, 5, true, &g);
  return m;
}

std::vector<std::string> inplace_children(const Sequential& net, Device device) {
  const std::vector<bool> plan = net.inplace_plan(device);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (plan[i]) out.push_back(net.name(i));
  }
  return out;
}

// One training step's results: logits, loss, every parameter gradient, dx, and the saved bytes
// after the forward.
struct StepResult {
  Tensor logits, loss, dx;
  std::vector<Tensor> grads;
  std::int64_t saved_bytes = 0;
};

StepResult train_step(Sequential& net, const Tensor& x, const Tensor& labels, bool plan,
                      bool parameters_only) {
  net.set_memory_plan(plan);
  Generator dropout_rng(99);  // the same masks for both runs
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (auto* d = dynamic_cast<Dropout*>(&net.at(i))) d->set_generator(&dropout_rng);
  }
  CrossEntropyLoss loss;
  StepResult r;
  net.zero_grad();
  r.logits = net.forward(x, Mode::kTrain);
  r.saved_bytes = net.saved_bytes();
  r.loss = loss.forward(r.logits, labels);
  if (parameters_only) {
    net.backward_parameters(loss.backward());
  } else {
    r.dx = net.backward(loss.backward());
  }
  for (Parameter* p : net.parameters()) r.grads.push_back(p->grad.clone());
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (auto* d = dynamic_cast<Dropout*>(&net.at(i))) d->set_generator(nullptr);
  }
  return r;
}

Tensor labels_for(std::int64_t n, std::int64_t classes) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back((i * 3 + 1) % classes);
  return Tensor::from_vector(v, {n});
}

// Plan on and off, on two identical networks: bitwise equal logits, loss, dx and gradients, the
// caller's input untouched, fewer saved bytes with the plan, and none left after its backward.
void expect_plan_is_invisible(const std::function<std::unique_ptr<Sequential>()>& make,
                              const Tensor& x, std::int64_t classes,
                              std::vector<bool> parameters_only_cases = {false, true}) {
  for (bool parameters_only : parameters_only_cases) {
    SCOPED_TRACE(parameters_only ? "backward_parameters" : "backward");
    auto plain = make(), planned = make();
    const Tensor x_before = x.clone();
    const Tensor labels = labels_for(x.shape()[0], classes);
    const StepResult a = train_step(*plain, x, labels, false, parameters_only);
    const StepResult b = train_step(*planned, x, labels, true, parameters_only);
    EXPECT_TRUE(all_equal(x, x_before)) << "the caller's input was overwritten";
    EXPECT_TRUE(all_equal(b.logits, a.logits));
    EXPECT_TRUE(all_equal(b.loss, a.loss));
    if (!parameters_only) {
      EXPECT_TRUE(all_equal(b.dx, a.dx));
    }
    ASSERT_EQ(a.grads.size(), b.grads.size());
    for (std::size_t i = 0; i < a.grads.size(); ++i) {
      EXPECT_TRUE(all_equal(b.grads[i], a.grads[i])) << "gradient " << i;
    }
    EXPECT_LT(b.saved_bytes, a.saved_bytes);
    EXPECT_EQ(planned->saved_bytes(), 0) << "the planned backward releases what it used";
    EXPECT_GT(plain->saved_bytes(), 0) << "without the plan, saved tensors live on";
    // Evaluation: the same outputs too (ReLUs in place on the network's own buffers).
    plain->set_memory_plan(false);
    planned->set_memory_plan(true);
    EXPECT_TRUE(all_equal(planned->forward(x, Mode::kEval), plain->forward(x, Mode::kEval)));
    EXPECT_TRUE(all_equal(x, x_before));
  }
}

TEST(MemoryPlan, LeNet5GradientsAreBitwiseEqual) {
  const auto make = [] {
    Generator g(5);
    return make_model("lenet5", g);
  };
  EXPECT_EQ(inplace_children(*make(), Device::cpu()),
            (std::vector<std::string>{"relu1", "relu3", "relu5", "relu6"}));
  expect_plan_is_invisible(make, testing::random_tensor({4, 1, 28, 28}, DType::kFloat32, 3), 10);
}

TEST(MemoryPlan, AlexNetLikeGradientsAreBitwiseEqual) {
  const auto make = [] { return small_alexnet(11); };
  EXPECT_EQ(inplace_children(*make(), Device::cpu()),
            (std::vector<std::string>{"relu1", "relu2", "relu3", "relu4", "relu6", "relu7"}));
  expect_plan_is_invisible(make, testing::random_tensor({3, 3, 35, 35}, DType::kFloat32, 4), 5);
  // Float64 as well.
  const auto make64 = [] {
    auto m = small_alexnet(12);
    m->to(DType::kFloat64);
    return m;
  };
  expect_plan_is_invisible(make64, testing::random_tensor({2, 3, 35, 35}, DType::kFloat64, 6), 5);
}

TEST(MemoryPlan, AlexNetGradientsAreBitwiseEqual) {
  const auto make = [] {
    Generator g(3);
    ModelOptions o;
    o.num_classes = 10;
    return make_model("alexnet", g, o);
  };
  const std::vector<std::string> relus = {"relu1", "relu2", "relu3", "relu4",
                                          "relu5", "relu6", "relu7"};
  EXPECT_EQ(inplace_children(*make(), Device::cpu()), relus);
  // The plan depends on the device and backend through each layer's traits; on a GPU with cuDNN
  // (activations, pooling and LRN read their input and output there) it is the same.
  EXPECT_EQ(inplace_children(*make(), Device::cuda(0)), relus);
  if (kernels::cudnn::available()) {
    auto on_cudnn = make();
    on_cudnn->set_backend(Backend::kCudnn);
    EXPECT_EQ(inplace_children(*on_cudnn, Device::cuda(0)), relus);
  }
  // backward() only (it checks dx too): AlexNet takes seconds on the CPU.
  expect_plan_is_invisible(make, testing::random_tensor({1, 3, 227, 227}, DType::kFloat32, 8), 10,
                           {false});
}

// The accounting, against the bytes the shapes imply (batch N, float32): what each layer keeps.
TEST(MemoryPlan, SavedBytesMatchTheShapes) {
  const std::int64_t n = 3;
  auto net = small_alexnet(1);
  const Tensor x = testing::random_tensor({n, 3, 35, 35}, DType::kFloat32, 2);
  const std::int64_t input = 3 * 35 * 35, a1 = 8 * 16 * 16, p1 = 8 * 7 * 7, a2 = 12 * 7 * 7,
                     p2 = 12 * 3 * 3, a3 = 16 * 3 * 3, p5 = 16, f = 32;
  // Without the plan: conv1 x; relu1 x (A1); lrn1 x (R1) and y (no scale: recomputed); pool1
  // argmax; conv2 x; relu2 x; lrn2 x, y; pool2 argmax; conv3 x; relu3 x; conv4 x (R3); relu4 x;
  // pool5 argmax; fc6 x; relu6 x; fc7 x; relu7 x; fc8 x (dropout: no mask, see below).
  const std::int64_t plain =
      kF * (input + a1 + 2 * a1 + p1 + a2 + 2 * a2 + p2 + a3 + a3 + a3 + p5 + 4 * f) +
      kI * (p1 + p2 + p5);
  // With it, each in-place ReLU's input and output are one buffer: A1, A2, A3 are gone (relu4,
  // relu6 and relu7 keep one buffer either way: nothing after them keeps their output).
  const std::int64_t planned = plain - kF * (a1 + a2 + a3);
  net->set_memory_plan(false);
  net->forward(x, Mode::kTrain);
  EXPECT_EQ(net->saved_bytes(), n * plain);
  net->set_memory_plan(true);
  net->forward(x, Mode::kTrain);
  EXPECT_EQ(net->saved_bytes(), n * planned);
  // Per layer: dropout keeps nothing (the mask is regenerated from its seed and offset).
  EXPECT_EQ(net->child("drop6").saved_bytes(), 0);
  EXPECT_EQ(net->child("lrn1").saved_bytes(), n * kF * 2 * a1);
  EXPECT_EQ(net->child("relu1").saved_bytes(), n * kF * a1);
  EXPECT_EQ(net->child("pool1").saved_bytes(), n * kI * p1);
  // Evaluation keeps nothing.
  net->forward(x, Mode::kEval);
  EXPECT_EQ(net->saved_bytes(), 0);
}

// Pass-through layer with default (conservative) traits: it returns its input itself.
class PassThrough : public Layer {
 public:
  const char* type() const override { return "PassThrough"; }
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, Mode) override { return x; }
  Tensor backward(const Tensor& dy) override { return dy; }
};

TEST(MemoryPlan, NeverOverwritesWhatSomeoneReads) {
  Generator g(1);
  // The caller's input, even through a view; a buffer of the network's own, also through one.
  Sequential a;
  a.emplace<Flatten>("flatten");
  a.emplace<ReLU>("relu");
  a.emplace<Flatten>("flatten2");
  a.emplace<ReLU>("relu2");
  EXPECT_EQ(inplace_children(a, Device::cpu()), (std::vector<std::string>{"relu2"}));
  const Tensor x = testing::random_tensor({2, 3, 4}, DType::kFloat32, 1);
  const Tensor x_before = x.clone();
  a.forward(x, Mode::kTrain);
  EXPECT_TRUE(all_equal(x, x_before));
  // Outputs that a backward reads: sigmoid and LRN keep their output, a ReLU in place keeps its
  // own (so a second ReLU may not overwrite it), a layer that says nothing is assumed to.
  Sequential b;
  b.emplace<Linear>("fc1", 4, 4, true, &g);
  b.emplace<Sigmoid>("sigmoid");
  b.emplace<ReLU>("after_sigmoid");
  b.emplace<Linear>("fc2", 4, 4, true, &g);
  b.emplace<ReLU>("relu");
  b.emplace<ReLU>("relu_again");
  b.emplace<Linear>("fc3", 4, 4, true, &g);
  b.emplace<PassThrough>("pass");
  b.emplace<ReLU>("after_pass");
  b.emplace<Linear>("fc4", 4, 4, true, &g);
  b.emplace<Flatten>("flatten");
  b.emplace<LeakyReLU>("leaky_after_view", 0.1);
  b.emplace<Linear>("fc5", 4, 4, true, &g);
  b.emplace<LeakyReLU>("negative_slope", -0.5);  // y > 0 where x < 0: backward needs x
  b.emplace<Tanh>("tanh");                       // reads its output: cannot run in place
  EXPECT_EQ(inplace_children(b, Device::cpu()),
            (std::vector<std::string>{"relu", "leaky_after_view"}));
  b.set_memory_plan(false);
  EXPECT_TRUE(inplace_children(b, Device::cpu()).empty());
  EXPECT_THROW(Tanh().forward_inplace(x, Mode::kTrain), ValueError);
  EXPECT_THROW(Linear(4, 4).forward_inplace(Tensor::zeros({1, 4}), Mode::kTrain), ValueError);
  // LRN reads its input: the ReLU before it still runs in place (its output is that input, and
  // neither overwrites it); a ReLU after LRN does not.
  Sequential c;
  c.emplace<Conv2d>("conv", 2, 4, Conv2dOptions::square(1), &g);
  c.emplace<ReLU>("relu");
  c.emplace<LocalResponseNorm>("lrn", 3);
  c.emplace<ReLU>("after_lrn");
  EXPECT_EQ(inplace_children(c, Device::cpu()), (std::vector<std::string>{"relu"}));
}

TEST(MemoryPlan, ReleasedLayersNeedANewForward) {
  auto net = small_alexnet(2);
  const Tensor x = testing::random_tensor({2, 3, 35, 35}, DType::kFloat32, 2);
  CrossEntropyLoss loss;
  loss.forward(net->forward(x, Mode::kTrain), labels_for(2, 5));
  const Tensor dy = loss.backward();
  net->backward(dy);
  EXPECT_THROW(net->backward(dy), ValueError);  // what backward used is gone
  net->set_memory_plan(false);
  net->forward(x, Mode::kTrain);
  net->backward(dy);
  EXPECT_NO_THROW(net->backward(dy));  // unplanned: saved tensors live until the next forward
}

}  // namespace
}  // namespace cudanet::layers
