#include "core/device.h"

#include "core/error.h"

namespace ttt {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "meta") return meta();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      size_t used = 0;
      int i = std::stoi(s.substr(5), &used);
      if (used == s.size() - 5 && i >= 0) return cuda(i);
    } catch (const std::exception&) {}
  }
  fail("Device::parse", "unknown device '" + s + "' (expected cpu, cuda, cuda:N or meta)");
}

std::string Device::str() const {
  switch (kind) {
    case Kind::cpu:
      return "cpu";
    case Kind::meta:
      return "meta";
    case Kind::cuda:
      return "cuda:" + std::to_string(index);
  }
  return "?";
}

}  // namespace ttt
