#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medic::fuzz {

// Splits a fuzzer's input: the first byte picks which parser runs (so one target covers a
// family of small parsers, and the corpus names the parser by that byte), the rest is the
// text handed to it.
struct Input {
  uint8_t selector = 0;
  std::string_view text;
};

inline Input Split(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  return {data[0], std::string_view(reinterpret_cast<const char*>(data + 1), size - 1)};
}

// Cuts `text` at each '\x1f' (unit separator): for parsers that take several values at once.
inline std::vector<std::string> Fields(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('\x1f', start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace medic::fuzz
