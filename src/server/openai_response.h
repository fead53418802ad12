// Response bodies in OpenAI's wire format: whole completions, streamed chunks and SSE framing.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/openai_request.h"

namespace ll::server {

// Identity shared by every chunk of one response.
struct ResponseMeta {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;

  static ResponseMeta make(Endpoint endpoint, const std::string& model);
};

nlohmann::json usage_json(int prompt_tokens, int completion_tokens);

// The whole, non-streamed response.
nlohmann::json completion_json(const ResponseMeta& m, const std::string& text,
                               const std::string& finish_reason, int prompt_tokens,
                               int completion_tokens);

// A streamed chunk: text (chat: a content delta; role_only sends {"role":"assistant"} first),
// or the final one with finish_reason and no text.
nlohmann::json chunk_json(const ResponseMeta& m, const std::string& text,
                          const std::string& finish_reason, bool role_only = false);
// The optional last chunk of stream_options.include_usage: no choices, just usage.
nlohmann::json usage_chunk_json(const ResponseMeta& m, int prompt_tokens, int completion_tokens);

// "data: {json}\n\n"; invalid UTF-8 (a model may emit it) becomes U+FFFD instead of throwing.
std::string sse_event(const nlohmann::json& j);
std::string dump_json(const nlohmann::json& j);

}  // namespace ll::server
