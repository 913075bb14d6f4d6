// Every differentiable op against central finite differences, in f64 on the CPU (tests/op_cases.h).
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "tests/op_cases.h"

namespace ttt::testing {
namespace {

class GradcheckOp : public ::testing::TestWithParam<OpCase> {};

TEST_P(GradcheckOp, MatchesFiniteDifferences) {
  const OpCase& op = GetParam();
  Generator gen(42);
  std::vector<Tensor> inputs;
  for (const Shape& s : op.shapes)
    inputs.push_back(make_input(s, op.domain, DType::f64, Device::cpu(), gen).set_requires_grad(true));
  GradcheckResult r = gradcheck(op.fn, inputs);
  EXPECT_TRUE(r.ok) << op.name << ": " << r.report;
}

INSTANTIATE_TEST_SUITE_P(AllOps, GradcheckOp, ::testing::ValuesIn(op_cases()), [](const auto& p) { return p.param.name; });

// The checker itself must be able to fail: a deliberately wrong backward is caught.
TEST(Gradcheck, CatchesAWrongBackward) {
  Tensor x = from_vector({0.3, -1.2, 2.0}, {3}, DType::f64).set_requires_grad(true);
  auto wrong_square = [](const std::vector<Tensor>& in) {
    // forward x^2 but the recorded backward is that of 3x (derivative 3, not 2x)
    return add(affine(in[0], 3.0, 0.0).detach(), affine(in[0], 3.0, 0.0)) - affine(in[0], 3.0, 0.0).detach() +
           (square(in[0]) - affine(in[0], 3.0, 0.0)).detach();
  };
  GradcheckResult r = gradcheck(wrong_square, {x});
  EXPECT_FALSE(r.ok) << "a backward of 3 for x^2 passed: " << r.report;
}

}  // namespace
}  // namespace ttt::testing
