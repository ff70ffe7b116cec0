// The model zoo: architectures, parameter counts, output shapes, seeded initialisation.
#include "layers/models.h"

#include <gtest/gtest.h>

#include "kernels/optimizer.h"
#include "layers/elementwise_layers.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "tensor_testing.h"

namespace cudanet::layers {
namespace {

std::unique_ptr<Sequential> build(const std::string& name, std::uint64_t seed = 1) {
  Generator g(seed);
  return make_model(name, g);
}

TEST(Models, AlexNetHasTheSeedsParameterCount) {
  auto m = build("alexnet");
  EXPECT_EQ(m->num_parameters(), 62378344);
  EXPECT_EQ(m->child("conv1").num_parameters(), 34944);
  EXPECT_EQ(m->output_shape({2, 3, 227, 227}), (Shape{2, 1000}));
  // The seed's figure, layer by layer.
  Shape s = {1, 3, 227, 227};
  std::vector<Shape> seen;
  for (std::size_t i = 0; i < m->size(); ++i) {
    s = m->at(i).output_shape(s);
    seen.push_back(s);
  }
  EXPECT_EQ(m->name(0), "conv1");
  EXPECT_EQ(seen[0], (Shape{1, 96, 55, 55}));
  EXPECT_EQ(seen[3], (Shape{1, 96, 27, 27}));
  EXPECT_EQ(seen[4], (Shape{1, 256, 27, 27}));
  EXPECT_EQ(seen[7], (Shape{1, 256, 13, 13}));
  EXPECT_EQ(seen[12], (Shape{1, 256, 13, 13}));
  EXPECT_EQ(seen[14], (Shape{1, 256, 6, 6}));
  EXPECT_EQ(seen[15], (Shape{1, 9216}));
}

TEST(Models, AlexNetOwtMatchesTorchvision) {
  Generator g(1);
  ModelOptions o;
  o.initialize = false;
  auto m = make_model("alexnet-owt", g, o);
  EXPECT_EQ(g.offset(), 0u);  // nothing drawn
  EXPECT_EQ(m->num_parameters(), 61100840);
  EXPECT_EQ(m->output_shape({1, 3, 224, 224}), (Shape{1, 1000}));
}

TEST(Models, LeNet5FollowsTheFigure) {
  auto m = build("lenet5");
  Shape s = {1, 1, 28, 28};
  s = m->child("c1").output_shape(s);
  EXPECT_EQ(s, (Shape{1, 6, 28, 28}));
  EXPECT_EQ(m->output_shape({8, 1, 28, 28}), (Shape{8, 10}));
  EXPECT_EQ(m->num_parameters(), 156 + 2416 + 48120 + 10164 + 850);
}

TEST(Models, MlpHiddenSizesAreConfigurable) {
  Generator g(3);
  ModelOptions o;
  o.mlp_hidden = {64};
  auto m = make_model("mlp", g, o);
  EXPECT_EQ(m->num_parameters(), 784 * 64 + 64 + 64 * 10 + 10);
  o.mlp_hidden = {0};
  EXPECT_THROW(make_model("mlp", g, o), ValueError);
  EXPECT_THROW(make_model("resnet", g), ValueError);
}

TEST(Models, InitialisationIsSeeded) {
  auto a = build("lenet5", 7);
  auto b = build("lenet5", 7);
  auto c = build("lenet5", 8);
  const Tensor& wa = a->named_parameters("")[0].second->value;
  EXPECT_TRUE(testing::all_equal(wa, b->named_parameters("")[0].second->value));
  EXPECT_FALSE(testing::all_close(wa, c->named_parameters("")[0].second->value));
}

TEST(Models, SummaryListsEveryLayerAndTheTotal) {
  Generator g(1);
  ModelOptions o;
  o.initialize = false;
  auto m = make_model("alexnet", g, o);
  const std::string s = summary(*m, model_input_shape("alexnet"));
  EXPECT_NE(s.find("conv1"), std::string::npos);
  EXPECT_NE(s.find("[1, 96, 55, 55]"), std::string::npos);
  EXPECT_NE(s.find("34944"), std::string::npos);
  EXPECT_NE(s.find("62378344"), std::string::npos);
}

TEST(Models, ASmallNetworkLearnsASeparableProblem) {
  Generator g(5);
  Sequential net;
  net.emplace<Linear>("fc1", 2, 16, true, &g);
  net.emplace<Tanh>("act");
  net.emplace<Linear>("fc2", 16, 2, true, &g);
  // Label = whether x0 + x1 > 0.
  const Tensor x = testing::random_tensor({64, 2}, DType::kFloat32, 21);
  const std::vector<double> xv = testing::as_doubles(x);
  std::vector<std::int64_t> labels(64);
  for (std::size_t i = 0; i < 64; ++i) labels[i] = xv[2 * i] + xv[2 * i + 1] > 0 ? 1 : 0;
  const Tensor y = Tensor::from_vector(labels, {64});
  CrossEntropyLoss loss;
  kernels::SgdParams sgd;
  sgd.lr = 0.5;
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    net.zero_grad();
    const double l = loss.forward(net.forward(x, Mode::kTrain), y).item();
    if (step == 0) first = l;
    last = l;
    net.backward(loss.backward());
    for (Parameter* p : net.parameters()) kernels::sgd_update(p->value, p->grad, nullptr, sgd);
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
}

}  // namespace
}  // namespace cudanet::layers
