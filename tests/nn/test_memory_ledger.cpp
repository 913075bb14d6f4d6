// The memory ledger (core/memory_ledger.h): what each module's forward keeps, on the meta device.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/memory_ledger.h"
#include "nn/layers.h"

namespace ttt::nn {
namespace {

// x -> first -> second; forward opens its Scope twice (forward calls inner), as HybridLM's loss,
// logits and hidden do.
class TwoLinears : public Module {
 public:
  TwoLinears(Generator& gen) : Module("TwoLinears") {
    first = register_module("first", std::make_shared<Linear>(8, 16, false, gen, Device::meta()));
    second = register_module("second", std::make_shared<Linear>(16, 4, false, gen, Device::meta()));
  }
  Tensor forward(const Tensor& x) const {
    Scope scope(*this);
    return inner(x);
  }
  std::shared_ptr<Linear> first, second;

 private:
  Tensor inner(const Tensor& x) const {
    Scope scope(*this);
    return second->forward(first->forward(x));
  }
};

int64_t live() { return static_cast<int64_t>(meta_memory_stats().current_bytes); }

TEST(MemoryLedger, ChargesEachModuleItsOutputAndWhatItKeeps) {
  Generator gen(1);
  TwoLinears m(gen);
  const Tensor x = empty({32, 8}, DType::f32, Device::meta());
  memory_ledger::Recording recording;
  const int64_t before = live();
  const Tensor y = m.forward(x);
  const int64_t kept = live() - before;
  const auto entries = recording.entries();
  // the two Linears share one place (the root's children are named without the root); the
  // second keeps the first's output for its weight's gradient, so that stays alive: 32 x 16 floats
  // charged to the first, 32 x 4 (the output) to the second
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].where, "Linear");
  EXPECT_EQ(entries[0].calls, 2);
  EXPECT_EQ(entries[0].bytes, (32 * 16 + 32 * 4) * 4);
  EXPECT_EQ(entries[1].where, "TwoLinears");
  EXPECT_EQ(entries[1].calls, 1);  // forward and inner are one frame
  EXPECT_EQ(entries[1].bytes, 0);
  EXPECT_EQ(entries[0].bytes + entries[1].bytes, kept);
}

TEST(MemoryLedger, ModulesBelowTheDepthChargeTheirEnclosingModule) {
  Generator gen(1);
  TwoLinears m(gen);
  const Tensor x = empty({32, 8}, DType::f32, Device::meta());
  memory_ledger::Recording recording(/*depth=*/1);
  const Tensor y = m.forward(x);
  const auto entries = recording.entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].where, "TwoLinears");
  EXPECT_EQ(entries[0].bytes, (32 * 16 + 32 * 4) * 4);
}

TEST(MemoryLedger, RecordsNothingWhenNoRecordingIsOpenAndOneRecordingAtATime) {
  Generator gen(1);
  TwoLinears m(gen);
  const Tensor x = empty({32, 8}, DType::f32, Device::meta());
  const Tensor before = m.forward(x);  // no recording: nothing to see, nothing fails
  memory_ledger::Recording recording;
  EXPECT_TRUE(recording.entries().empty());
  EXPECT_THROW(memory_ledger::Recording(), Error);
}

}  // namespace
}  // namespace ttt::nn
