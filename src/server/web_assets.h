// The web page served at / (web/*.html, *.js, *.css), built into the binary at build time by
// cmake/embed_files.cmake: nothing is fetched or read from disk at run time.
#pragma once

#include <string_view>
#include <vector>

namespace ll::server {

struct WebAsset {
  std::string_view path;          // URL path, e.g. "/app.js"
  std::string_view content_type;  // from the file's extension
  std::string_view body;
};

const std::vector<WebAsset>& web_assets();
const WebAsset* find_web_asset(std::string_view path);  // "/" is index.html

}  // namespace ll::server
