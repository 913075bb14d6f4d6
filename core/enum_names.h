// Config options as enums, with the names the YAML spells: parsed once at the config boundary
// (train/yaml_reader.h), so model code compares enums, never strings. An enum opts in with a
// specialisation of EnumNames next to its declaration:
//   template <> struct EnumNames<MiniBatchMode> {
//     static constexpr const char* what = "minibatch_mode";
//     static constexpr std::pair<MiniBatchMode, const char*> names[] = {{MiniBatchMode::causal, "causal"}, ...};
//   };
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ttt {

template <class E>
struct EnumNames;

template <class E>
const char* enum_name(E value) {
  for (const auto& [v, n] : EnumNames<E>::names)
    if (v == value) return n;
  return "?";
}

template <class E>
std::vector<std::string> enum_choices() {
  std::vector<std::string> out;
  for (const auto& [v, n] : EnumNames<E>::names) out.emplace_back(n);
  return out;
}

// "linear, mlp or multilayer"
template <class E>
std::string enum_choices_text() {
  const std::vector<std::string> c = enum_choices<E>();
  std::string s;
  for (size_t i = 0; i < c.size(); ++i) s += (i == 0 ? "" : i + 1 == c.size() ? " or " : ", ") + c[i];
  return s;
}

// Throws ttt::Error "<what> '<name>' is unknown (expected ...)".
template <class E>
E parse_enum(const std::string& name) {
  for (const auto& [v, n] : EnumNames<E>::names)
    if (name == n) return v;
  fail(EnumNames<E>::what,
       std::string(EnumNames<E>::what) + " '" + name + "' is unknown (expected " + enum_choices_text<E>() + ")");
}

}  // namespace ttt
