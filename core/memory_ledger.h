// What a forward keeps alive for its backward, by module: while a Recording is open on this thread,
// every module forward (nn::Module::Scope) notes the meta device's live bytes when it starts and
// ends (core/allocator.h), and the difference is charged to the module's place in the stack of
// module kinds ("TransformerLayer > TTTMultiLayer"). A module charges what its children did not:
// the tensors its own ops saved and its output. Modules nested deeper than `depth` charge their
// enclosing module at that depth (an attention's Linear counts as the attention's).
// The memory estimate (train/memory_estimate.h) opens one around the meta step's forward, so
// --dry-run can say which part of the model the activations belong to. Off, a Region costs one
// thread-local read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ttt::memory_ledger {

struct Entry {
  std::string where;  // module kinds from the root's child down, joined by " > "
  int64_t bytes = 0;  // negative where a module frees more than it keeps (a residual stream)
  int64_t calls = 0;  // how many forwards ran at this place (0: not a module's: what ran outside any)
};

class Recording {
 public:
  explicit Recording(int depth = 3);
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  // The places in the order they first ran; the charges add up to the live bytes' change over
  // the outermost modules' forwards.
  std::vector<Entry> entries() const;
};

// One module's forward: `owner` is the module (a forward calling another method of the same module,
// which opens its own Scope, stays one frame).
class Region {
 public:
  Region(const void* owner, const std::string& kind);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  bool counted_ = false;
};

}  // namespace ttt::memory_ledger
