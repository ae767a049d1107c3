#pragma once

// The web console's files (collector/web/assets/), built into the binary by embed_assets.cmake
// so the collector needs nothing beside it and the browser fetches nothing from elsewhere.

#include <cstddef>
#include <string_view>

namespace medic::collector::web {

struct Asset {
  const char* path;          // "/app.js"
  const char* content_type;  // "text/javascript; charset=utf-8"
  const char* data;
  size_t size;
};

// The asset served at `path`, or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace medic::collector::web
