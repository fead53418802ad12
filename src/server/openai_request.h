// Request bodies of /v1/completions and /v1/chat/completions: JSON in, validated parameters or
// an OpenAI-style error naming the offending field out. No model knowledge here; the context
// check happens once the prompt is tokenized.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "server/api_error.h"
#include "server/chat_template.h"

namespace ll::server {

enum class Endpoint { kCompletions, kChat };

struct GenerationParams {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;   // as the client named it ("" if absent); any name selects the served one
  std::string prompt;  // completions, text form
  std::vector<int64_t> prompt_ids;  // completions, token-id form (range-checked later)
  bool prompt_is_ids = false;
  std::vector<ChatMessage> messages;  // chat
  std::optional<int64_t> max_tokens;  // unset: endpoint default
  model::SamplerParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Deeper JSON than this is rejected before parsing, so hostile bodies cannot exhaust the stack.
inline constexpr int kMaxJsonDepth = 32;

// Maximum nesting depth of arrays/objects, strings skipped; stops counting past `limit`.
int json_depth(const std::string& body, int limit);

ApiResult<GenerationParams> parse_generation_request(const std::string& body, Endpoint endpoint);

}  // namespace ll::server
