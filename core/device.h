// Where a Tensor's memory lives: the host (cpu), a GPU (cuda:N), or nowhere (meta: shapes only).
#pragma once
#include <string>

namespace ttt {

struct Device {
  enum class Kind { cpu, cuda, meta };
  Kind kind = Kind::cpu;
  int index = 0;  // GPU ordinal; 0 for cpu and meta

  static Device cpu() { return {Kind::cpu, 0}; }
  static Device cuda(int i = 0) { return {Kind::cuda, i}; }
  static Device meta() { return {Kind::meta, 0}; }
  // Parses "cpu", "cuda", "cuda:1", "meta"; throws on anything else.
  static Device parse(const std::string& s);

  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  bool is_meta() const { return kind == Kind::meta; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// True when this binary was built with CUDA and at least one GPU is visible.
bool cuda_available();
int cuda_device_count();  // GPUs this process sees (0 without CUDA)

}  // namespace ttt
