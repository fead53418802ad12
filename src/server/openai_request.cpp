#include "server/openai_request.h"

#include <cmath>
#include <limits>

namespace ll::server {

using nlohmann::json;

namespace {

const char* type_name(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number_float()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

ApiError wrong_type(const std::string& key, const char* expected, const json& got) {
  return bad_request("Invalid type for '" + key + "': expected " + expected + ", but got " +
                         type_name(got) + " instead.",
                     key);
}

// Each reader leaves `out` untouched when the key is absent or null (OpenAI treats an explicit
// null as "use the default") and returns an error for a present value of the wrong kind.
std::optional<ApiError> read_number(const json& body, const std::string& key, double lo, double hi,
                                    std::optional<double>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(key, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return bad_request("'" + key + "' must be between " + json(lo).dump() + " and " +
                           json(hi).dump() + ", got " + it->dump() + ".",
                       key);
  }
  out = v;
  return std::nullopt;
}

std::optional<ApiError> read_int(const json& body, const std::string& key,
                                 std::optional<int64_t>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) {
    // Beyond int64 is simply "too many"; keep the largest value so range checks still fire.
    const uint64_t u = it->get<uint64_t>();
    out = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
    return std::nullopt;
  }
  if (!it->is_number_integer()) return wrong_type(key, "an integer", *it);
  out = it->get<int64_t>();
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const std::string& key, bool& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(key, "a boolean", *it);
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> read_stop(const json& body, std::vector<std::string>& out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  std::vector<json> items;
  if (it->is_string()) {
    items.push_back(*it);
  } else if (it->is_array()) {
    if (it->size() > 4) return bad_request("'stop' accepts at most 4 sequences.", "stop");
    for (const auto& s : *it) items.push_back(s);
  } else {
    return wrong_type("stop", "a string or an array of strings", *it);
  }
  for (const auto& s : items) {
    if (!s.is_string()) return wrong_type("stop", "a string or an array of strings", s);
    if (s.get_ref<const std::string&>().empty())
      return bad_request("'stop' sequences must not be empty.", "stop");
    out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// Fields that select features we do not implement: accepted only at their neutral value, so a
// client never silently gets something other than what it asked for.
std::optional<ApiError> check_unsupported(const json& body) {
  auto present = [&](const char* k) {
    auto it = body.find(k);
    return it != body.end() && !it->is_null();
  };
  auto at = [&](const char* k) -> const json& { return body.at(k); };
  std::optional<int64_t> n;
  if (auto e = read_int(body, "n", n)) return e;
  if (n && *n != 1)
    return bad_request("Only n=1 is supported, got " + std::to_string(*n) + ".", "n");
  bool echo = false;
  if (auto e = read_bool(body, "echo", echo)) return e;
  if (echo) return bad_request("'echo' is not supported.", "echo");
  if (present("logprobs") && !(at("logprobs").is_boolean() && !at("logprobs").get<bool>())) {
    return bad_request("'logprobs' is not supported.", "logprobs");
  }
  if (present("top_logprobs"))
    return bad_request("'top_logprobs' is not supported.", "top_logprobs");
  std::optional<int64_t> best_of;
  if (auto e = read_int(body, "best_of", best_of)) return e;
  if (best_of && *best_of != 1) return bad_request("Only best_of=1 is supported.", "best_of");
  if (present("suffix") &&
      !(at("suffix").is_string() && at("suffix").get_ref<const std::string&>().empty())) {
    return bad_request("'suffix' is not supported.", "suffix");
  }
  if (present("logit_bias") && !(at("logit_bias").is_object() && at("logit_bias").empty())) {
    return bad_request("'logit_bias' is not supported.", "logit_bias");
  }
  for (const char* k : {"tools", "tool_choice", "functions", "function_call"}) {
    if (present(k) && !(at(k).is_array() && at(k).empty())) {
      return bad_request(std::string("'") + k + "' is not supported.", k);
    }
  }
  if (present("response_format")) {
    const json& rf = at("response_format");
    if (!rf.is_object() || rf.value("type", json()) != "text") {
      return bad_request("Only response_format {\"type\": \"text\"} is supported.",
                         "response_format");
    }
  }
  for (const char* k : {"presence_penalty", "frequency_penalty"}) {
    std::optional<double> v;
    if (auto e = read_number(body, k, -2, 2, v)) return e;
    if (v && *v != 0) return bad_request(std::string("'") + k + "' is not supported (use 0).", k);
  }
  if (present("user") && !at("user").is_string()) return wrong_type("user", "a string", at("user"));
  return std::nullopt;
}

std::optional<ApiError> read_prompt(const json& body, GenerationParams& p) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null())
    return bad_request("Missing required parameter: 'prompt'.", "prompt");
  if (it->is_string()) {
    p.prompt = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array()) return wrong_type("prompt", "a string or an array", *it);
  if (it->empty()) return bad_request("'prompt' must not be an empty array.", "prompt");
  if ((*it)[0].is_string()) {
    if (it->size() != 1) return bad_request("Only one prompt per request is supported.", "prompt");
    p.prompt = (*it)[0].get<std::string>();
    return std::nullopt;
  }
  // An array of token ids; ids are checked against the vocabulary once it is known.
  for (const auto& t : *it) {
    if (!t.is_number_integer() && !t.is_number_unsigned()) {
      return bad_request(
          "'prompt' must be a string, an array of one string, or an array of token ids.", "prompt");
    }
    p.prompt_ids.push_back(
        t.is_number_unsigned() && t.get<uint64_t>() > INT64_MAX ? INT64_MAX : t.get<int64_t>());
  }
  p.prompt_is_ids = true;
  return std::nullopt;
}

std::optional<ApiError> read_content(const json& m, size_t i, std::string& out) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  auto it = m.find("content");
  if (it == m.end() || it->is_null())
    return bad_request("Missing required parameter: '" + where + "'.", where);
  if (it->is_string()) {
    out = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array()) return wrong_type(where, "a string or an array of text parts", *it);
  for (const auto& part : *it) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return bad_request(
          "Only text content parts ({\"type\": \"text\", \"text\": ...}) are supported.", where);
    }
    out += part["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> read_messages(const json& body, GenerationParams& p) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null())
    return bad_request("Missing required parameter: 'messages'.", "messages");
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return bad_request("'messages' must contain at least one message.", "messages");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(where, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return bad_request("'" + where + ".role' must be a string.", where + ".role");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the same slot
    if (r != "system" && r != "user" && r != "assistant") {
      return bad_request(
          "'" + where + ".role' must be 'system', 'user' or 'assistant', got '" + r + "'.",
          where + ".role");
    }
    ChatMessage msg{r, ""};
    if (auto e = read_content(m, i, msg.content)) return e;
    p.messages.push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> read_sampling(const json& body, GenerationParams& p) {
  std::optional<double> temp, top_p, min_p, repeat;
  std::optional<int64_t> top_k, seed;
  if (auto e = read_number(body, "temperature", 0, 2, temp)) return e;
  if (auto e = read_number(body, "top_p", 0, 1, top_p)) return e;
  if (auto e = read_number(body, "min_p", 0, 1, min_p)) return e;
  if (auto e = read_number(body, "repeat_penalty", 0.01, 10, repeat)) return e;
  if (auto e = read_int(body, "top_k", top_k)) return e;
  if (top_k && *top_k < 0) return bad_request("'top_k' must be >= 0 (0 = off).", "top_k");
  if (auto e = read_int(body, "seed", seed)) return e;
  if (temp) p.sampling.temp = static_cast<float>(*temp);
  if (top_p) p.sampling.top_p = static_cast<float>(*top_p);
  if (min_p) p.sampling.min_p = static_cast<float>(*min_p);
  if (repeat) p.sampling.repeat_penalty = static_cast<float>(*repeat);
  if (top_k) p.sampling.top_k = static_cast<int>(std::min<int64_t>(*top_k, 1 << 30));
  if (seed) {
    p.sampling.seed = static_cast<uint64_t>(*seed);
    p.seed_given = true;
  }
  return std::nullopt;
}

std::optional<ApiError> read_all(const json& body, Endpoint ep, GenerationParams& p) {
  // One model is served: like llama-server, any name (or none) selects it, so clients with a
  // hard-coded model name work unchanged. A present name must still be a string.
  auto model = body.find("model");
  if (model != body.end() && !model->is_null()) {
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    p.model = model->get<std::string>();
  }
  if (ep == Endpoint::kChat) {
    if (auto e = read_messages(body, p)) return e;
  } else {
    if (auto e = read_prompt(body, p)) return e;
  }
  // max_completion_tokens is the chat API's newer name; either is accepted.
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    std::optional<int64_t> v;
    if (auto e = read_int(body, k, v)) return e;
    if (v && *v < 1)
      return bad_request(
          std::string("'") + k + "' must be at least 1, got " + std::to_string(*v) + ".", k);
    if (v) p.max_tokens = v;
  }
  if (auto e = read_sampling(body, p)) return e;
  if (auto e = read_stop(body, p.stop)) return e;
  if (auto e = read_bool(body, "stream", p.stream)) return e;
  auto so = body.find("stream_options");
  if (so != body.end() && !so->is_null()) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (!p.stream)
      return bad_request("'stream_options' is only allowed when 'stream' is true.",
                         "stream_options");
    if (auto e = read_bool(*so, "include_usage", p.include_usage)) {
      e->param = "stream_options.include_usage";
      return e;
    }
  }
  return check_unsupported(body);
}

}  // namespace

int json_depth(const std::string& body, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) return max_depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

ApiResult<GenerationParams> parse_generation_request(const std::string& body, Endpoint endpoint) {
  if (json_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return bad_request("The request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels.");
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // Parse errors and number overflows ("1e400"). e.what() starts with
    // "[json.exception.parse_error.101] "; the rest is the useful part.
    std::string what = e.what();
    const size_t cut = what.find("] ");
    return bad_request("We could not parse the JSON body of your request: " +
                       (cut == std::string::npos ? what : what.substr(cut + 2)));
  }
  if (!j.is_object()) return bad_request("The request body must be a JSON object.");
  GenerationParams p;
  p.endpoint = endpoint;
  try {
    if (auto e = read_all(j, endpoint, p)) return *e;
  } catch (const json::exception& e) {
    // Every access is type-checked first; this is a safety net, not a code path.
    return bad_request(std::string("Invalid request: ") + e.what());
  }
  return p;
}

}  // namespace ll::server
