#include "server/openai_response.h"

#include <chrono>
#include <cstdio>
#include <random>

namespace ll::server {

using nlohmann::json;

namespace {

std::string random_hex(int n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += digits[rng() & 15];
  return s;
}

json finish(const std::string& reason) {
  return reason.empty() ? json() : json(reason);
}

bool is_chat(const ResponseMeta& m) {
  return m.endpoint == Endpoint::kChat;
}

}  // namespace

ResponseMeta ResponseMeta::make(Endpoint endpoint, const std::string& model) {
  ResponseMeta m;
  m.endpoint = endpoint;
  m.id = (endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  m.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  m.model = model;
  return m;
}

json usage_json(int prompt_tokens, int completion_tokens) {
  return json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", completion_tokens},
              {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_json(const ResponseMeta& m, const std::string& text,
                     const std::string& finish_reason, int prompt_tokens, int completion_tokens) {
  json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish(finish_reason)}};
  if (is_chat(m)) {
    choice["message"] = json{{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return json{{"id", m.id},
              {"object", is_chat(m) ? "chat.completion" : "text_completion"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array({choice})},
              {"usage", usage_json(prompt_tokens, completion_tokens)}};
}

json chunk_json(const ResponseMeta& m, const std::string& text, const std::string& finish_reason,
                bool role_only) {
  json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish(finish_reason)}};
  if (is_chat(m)) {
    json delta = json::object();
    if (role_only) {
      delta["role"] = "assistant";
      delta["content"] = "";
    } else if (finish_reason.empty()) {
      delta["content"] = text;
    }
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  return json{{"id", m.id},
              {"object", is_chat(m) ? "chat.completion.chunk" : "text_completion"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array({choice})}};
}

json usage_chunk_json(const ResponseMeta& m, int prompt_tokens, int completion_tokens) {
  return json{{"id", m.id},
              {"object", is_chat(m) ? "chat.completion.chunk" : "text_completion"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array()},
              {"usage", usage_json(prompt_tokens, completion_tokens)}};
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& j) {
  return "data: " + dump_json(j) + "\n\n";
}

}  // namespace ll::server
