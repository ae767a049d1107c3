#pragma once

// StrCat and StrAppend that take std::string_view. Debian's abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so absl::StrCat rejects
// std::string_view; these accept both, plus numbers, and fmt can print absl::string_view
// (Status::message()) through the formatter below.

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace medic::common {
namespace internal {

inline void AppendPiece(std::string& out, std::string_view piece) { out.append(piece); }
inline void AppendPiece(std::string& out, absl::string_view piece) {
  out.append(piece.data(), piece.size());
}
inline void AppendPiece(std::string& out, const char* piece) { out.append(piece); }
inline void AppendPiece(std::string& out, const std::string& piece) { out.append(piece); }
inline void AppendPiece(std::string& out, char c) { out.push_back(c); }
template <typename T>
requires(std::integral<T> && !std::same_as<T, char> &&
         !std::same_as<T, bool>) void AppendPiece(std::string& out, T value) {
  fmt::format_to(std::back_inserter(out), "{}", value);
}
template <std::floating_point T>
void AppendPiece(std::string& out, T value) {
  fmt::format_to(std::back_inserter(out), "{}", value);
}

// Anything else absl::StrCat formats (absl::Hex, absl::Dec, …).
template <typename T>
requires(!std::is_arithmetic_v<T> && !std::is_convertible_v<const T&, std::string_view> &&
         !std::is_convertible_v<const T&, absl::string_view> &&
         std::is_constructible_v<absl::AlphaNum, const T&>) void AppendPiece(std::string& out,
                                                                             const T& value) {
  const absl::AlphaNum piece(value);
  out.append(piece.data(), piece.size());
}

}  // namespace internal

template <typename... Pieces>
std::string StrCat(const Pieces&... pieces) {
  std::string out;
  (internal::AppendPiece(out, pieces), ...);
  return out;
}

template <typename... Pieces>
void StrAppend(std::string* out, const Pieces&... pieces) {
  (internal::AppendPiece(*out, pieces), ...);
}

// absl::string_view → std::string_view, for the std-based APIs.
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace medic::common

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
