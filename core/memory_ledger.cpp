#include "core/memory_ledger.h"

#include <map>

#include "core/allocator.h"
#include "core/error.h"

namespace ttt::memory_ledger {

namespace {

struct Frame {
  const void* owner = nullptr;
  std::string kind;
  uint64_t start = 0;          // live meta bytes when the forward began
  int64_t children_bytes = 0;  // what the counted children's forwards changed
  bool counted = false;        // within the recording's depth
};

struct Ledger {
  int depth = 0;
  std::vector<Frame> stack;
  std::vector<Entry> entries;
  std::map<std::string, size_t> index;  // where -> entries[i]
};

thread_local Ledger* g_ledger = nullptr;

int64_t live_bytes() { return static_cast<int64_t>(meta_memory_stats().current_bytes); }

}  // namespace

Recording::Recording(int depth) {
  TTT_CHECK(g_ledger == nullptr, "memory_ledger", "a Recording is already open on this thread");
  g_ledger = new Ledger();
  g_ledger->depth = depth;
}

Recording::~Recording() {
  delete g_ledger;
  g_ledger = nullptr;
}

std::vector<Entry> Recording::entries() const { return g_ledger->entries; }

Region::Region(const void* owner, const std::string& kind) {
  Ledger* l = g_ledger;
  if (l == nullptr || (!l->stack.empty() && l->stack.back().owner == owner)) return;
  counted_ = true;
  Frame f;
  f.owner = owner;
  f.kind = kind;
  f.start = static_cast<uint64_t>(live_bytes());
  f.counted = static_cast<int>(l->stack.size()) < l->depth;
  l->stack.push_back(std::move(f));
}

Region::~Region() {
  Ledger* l = g_ledger;
  if (!counted_ || l == nullptr || l->stack.empty()) return;
  Frame f = std::move(l->stack.back());
  l->stack.pop_back();
  if (!f.counted) return;  // deeper than the depth: its enclosing counted frame charges it
  const int64_t delta = live_bytes() - static_cast<int64_t>(f.start);
  if (!l->stack.empty()) l->stack.back().children_bytes += delta;
  // the place: the kinds below the root (the root's own charge is listed under its kind)
  std::string where;
  for (size_t i = l->stack.empty() ? 0 : 1; i < l->stack.size(); ++i) where += l->stack[i].kind + " > ";
  where += f.kind;
  auto [it, added] = l->index.emplace(where, l->entries.size());
  if (added) l->entries.push_back(Entry{where, 0, 0});
  Entry& e = l->entries[it->second];
  e.bytes += delta - f.children_bytes;
  e.calls += 1;
}

}  // namespace ttt::memory_ledger
