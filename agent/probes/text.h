#pragma once

// Text helpers for the probes' parsers, on std::string_view. Debian's abseil is built with its
// own absl::string_view type, so absl's string functions do not take std::string_view; these do.
// Pure; no locale.

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "common/strings/str_cat.h"

namespace medic::agent {

// `text` cut at every '\n'; empty lines are kept (so indices are line numbers - 1).
std::vector<std::string_view> SplitLines(std::string_view text);

// `text` cut at every `separator`; empty pieces are kept ("a,,b" gives "a", "", "b").
std::vector<std::string_view> Split(std::string_view text, char separator);

// The non-empty runs of `text` between any of `separators`.
std::vector<std::string_view> SplitFields(std::string_view text,
                                          std::string_view separators = " \t");

// `text` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

inline bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.starts_with(prefix);
}

inline bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.ends_with(suffix);
}

inline bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Removes `prefix` from the front of *text and returns true when it is there.
bool ConsumePrefix(std::string_view* text, std::string_view prefix);
// Removes `suffix` from the end of *text and returns true when it is there.
bool ConsumeSuffix(std::string_view* text, std::string_view suffix);

// Parses the whole of `text` as a number in `base`; false (and *out untouched) when `text` is
// empty, has any other character (a sign on an unsigned type, whitespace) or overflows.
template <typename Int>
bool ParseInt(std::string_view text, Int* out, int base = 10) {
  static_assert(std::is_integral_v<Int>);
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc() || ptr != end) return false;
  *out = value;
  return true;
}

// ParseInt in base 16, without a "0x" prefix.
template <typename Int>
bool ParseHex(std::string_view text, Int* out) {
  return ParseInt(text, out, 16);
}

// Parses the whole of `text` as a decimal floating-point number.
bool ParseDouble(std::string_view text, double* out);

}  // namespace medic::agent
