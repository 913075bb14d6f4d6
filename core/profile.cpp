#include "core/profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <unordered_map>
#include <vector>

#include "core/backend.h"

namespace ttt::profile {

namespace {

constexpr const char* kKernelSeparator = " | ";

struct Record {
  int key;
  void* start = nullptr;  // CUDA events, or null for a CPU kernel timed by the host clock
  void* end = nullptr;
  double cpu_ms = 0;
};

struct State {
  std::vector<std::string> stack;  // the region labels
  std::string joined;              // the labels joined by " > " (kept up to date: read per kernel)
  std::unordered_map<std::string, int> key_ids;
  std::vector<std::string> keys;  // "region > region | kernel"
  std::vector<Record> records;
  std::vector<void*> spare_events;  // events of forgotten records, reused
  int open_timers = 0;              // a timer inside a timer would count its kernels twice
  uint64_t generation = 0;          // counts forget_records(): a timer open across it keeps nothing
};

std::atomic<bool> g_enabled{[] {
  const char* v = std::getenv("TTT_PROFILE");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}()};

State& state() {
  static State* s = new State();  // never destroyed: timers may run during static teardown
  return *s;
}

void* take_event(State& s) {
  if (s.spare_events.empty()) return cuda::event_create();
  void* e = s.spare_events.back();
  s.spare_events.pop_back();
  return e;
}

void forget_records(State& s) {
  for (const Record& r : s.records)
    if (r.start != nullptr) {
      s.spare_events.push_back(r.start);
      s.spare_events.push_back(r.end);
    }
  s.records.clear();
  ++s.generation;
}

void rejoin(State& s) {
  s.joined.clear();
  for (const std::string& label : s.stack) s.joined += (s.joined.empty() ? "" : " > ") + label;
}

double elapsed_ms(const Record& r) { return r.start != nullptr ? cuda::event_elapsed_ms(r.start, r.end) : r.cpu_ms; }

std::vector<std::string> split_regions(const std::string& region) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin < region.size()) {
    size_t end = region.find(" > ", begin);
    if (end == std::string::npos) end = region.size();
    parts.push_back(region.substr(begin, end - begin));
    begin = end + 3;
  }
  return parts;
}

}  // namespace

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on) { g_enabled = on; }

Region::Region(const std::string& label) : active_(enabled()) {
  if (!active_) return;
  state().stack.push_back(label);
  rejoin(state());
}

Region::~Region() {
  if (!active_) return;
  state().stack.pop_back();
  rejoin(state());
}

std::string current_region() { return state().joined; }

KernelTimer::KernelTimer(const char* kernel, Device device) {
  if (!enabled() || device.is_meta()) return;
  State& s = state();
  counted_ = true;
  if (s.open_timers++ > 0) return;
  const std::string& region = s.joined;
  const std::string key = (region.empty() ? std::string("(outside any module)") : region) + kKernelSeparator + kernel;
  auto [it, added] = s.key_ids.emplace(key, static_cast<int>(s.keys.size()));
  if (added) s.keys.push_back(key);
  Record r{it->second};
  if (device.is_cuda()) {
    r.start = take_event(s);
    r.end = take_event(s);
    cuda::event_record(r.start);
  }
  s.records.push_back(r);
  record_ = static_cast<int>(s.records.size()) - 1;
  generation_ = s.generation;
  cpu_start_ = std::chrono::steady_clock::now();
}

KernelTimer::~KernelTimer() {
  if (!counted_) return;
  State& s = state();
  --s.open_timers;
  if (record_ < 0 || generation_ != s.generation) return;  // reset() ran while it was open
  Record& r = s.records[static_cast<size_t>(record_)];
  if (r.start != nullptr)
    cuda::event_record(r.end);
  else
    r.cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - cpu_start_).count();
}

void reset() { forget_records(state()); }

std::map<std::string, int64_t> launches() {
  const State& s = state();
  std::map<std::string, int64_t> count;
  for (const Record& r : s.records) ++count[s.keys[static_cast<size_t>(r.key)]];
  return count;
}

void report(std::ostream& os, int64_t steps, std::chrono::steady_clock::time_point since) {
  State& s = state();
  if (s.records.empty()) {
    os << "profile: no kernel was timed\n";
    return;
  }
  for (auto r = s.records.rbegin(); r != s.records.rend(); ++r)
    if (r->start != nullptr) {
      cuda::event_elapsed_ms(r->start, r->end);  // waits for the last CUDA kernel
      break;
    }
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
  const double per = steps > 0 ? 1.0 / static_cast<double>(steps) : 1.0;
  std::vector<double> key_ms(s.keys.size(), 0.0);
  std::vector<int64_t> key_count(s.keys.size(), 0);
  double busy = 0;
  for (const Record& r : s.records) {
    const double ms = elapsed_ms(r);
    key_ms[static_cast<size_t>(r.key)] += ms;
    ++key_count[static_cast<size_t>(r.key)];
    busy += ms;
  }
  // Each region's time is the sum of the kernels under it; a std::map over the label lists prints
  // the regions as a tree (a parent right before its children).
  std::map<std::vector<std::string>, double> by_region;
  for (size_t k = 0; k < s.keys.size(); ++k) {
    const std::string& key = s.keys[k];
    std::vector<std::string> parts = split_regions(key.substr(0, key.find(kKernelSeparator)));
    for (size_t depth = 1; depth <= parts.size(); ++depth)
      by_region[std::vector<std::string>(parts.begin(), parts.begin() + static_cast<long>(depth))] += key_ms[k];
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "profile over %lld steps: wall %.2f ms/step, kernels busy %.2f ms/step (%.1f%%) in %.1f launches/step, "
                "outside kernels (host work; on a GPU: waiting for the host) %.2f ms/step\n",
                static_cast<long long>(steps), wall_ms * per, busy * per, wall_ms > 0 ? 100.0 * busy / wall_ms : 0.0,
                static_cast<double>(s.records.size()) * per, (wall_ms - busy) * per);
  os << line << "time by region (ms/step, % of busy; regions under 0.5% left out):\n";
  for (const auto& [parts, ms] : by_region) {
    if (ms < 0.005 * busy) continue;
    std::snprintf(line, sizeof line, "  %9.3f %5.1f%%  %s%s\n", ms * per, 100.0 * ms / busy,
                  std::string(2 * (parts.size() - 1), ' ').c_str(), parts.back().c_str());
    os << line;
  }
  std::vector<size_t> order(s.keys.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key_ms[a] > key_ms[b]; });
  os << "most expensive kernels (ms/step, % of busy, launches/step, region | kernel):\n";
  for (size_t i = 0; i < std::min<size_t>(order.size(), 40); ++i) {
    const size_t k = order[i];
    std::snprintf(line, sizeof line, "  %9.3f %5.1f%% %7.1f  %s\n", key_ms[k] * per, 100.0 * key_ms[k] / busy,
                  static_cast<double>(key_count[k]) * per, s.keys[k].c_str());
    os << line;
  }
  forget_records(s);
}

}  // namespace ttt::profile
