// Pieces of the server that need no model: chat template detection and rendering, stop
// strings, request validation.
#include <gtest/gtest.h>

#include "server/chat_template.h"
#include "server/openai_request.h"
#include "server/stop_matcher.h"

namespace ll::server {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "2+2?"},
};

// Abbreviated versions of the real templates: detection only looks for their markers.
TEST(ChatTemplate, ChatMl) {
  auto t = ChatTemplate::detect(
      "{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>\n{% endfor %}");
  EXPECT_EQ(t.format, ChatFormat::kChatMl);
  EXPECT_EQ(t.render(kConversation),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_TRUE(t.default_stops().empty());
}

TEST(ChatTemplate, Llama2) {
  auto t = ChatTemplate::detect(
      "{{ bos_token + '[INST] ' + content + ' [/INST]' }}{% if system %}<<SYS>>{% endif %}");
  EXPECT_EQ(t.format, ChatFormat::kLlama2);
  EXPECT_EQ(t.render(kConversation),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
  EXPECT_EQ(t.render({{"user", "Hi"}}), "[INST] Hi [/INST]");
}

TEST(ChatTemplate, Llama3) {
  auto t = ChatTemplate::detect(
      "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}<|eot_id|>");
  EXPECT_EQ(t.format, ChatFormat::kLlama3);
  EXPECT_EQ(t.render({{"system", "S"}, {"user", "U"}}),
            "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Zephyr) {
  auto t = ChatTemplate::detect(
      "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + "
      "message['content'] + eos_token }}{% endif %}{% endfor %}");
  EXPECT_EQ(t.format, ChatFormat::kZephyr);
  EXPECT_EQ(t.render({{"system", "S"}, {"user", "U"}}),
            "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n");
  // Phi-3 uses the same roles but ends turns with <|end|>.
  auto phi = ChatTemplate::detect("{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n'}}");
  EXPECT_EQ(phi.format, ChatFormat::kZephyr);
  EXPECT_EQ(phi.render({{"user", "U"}}), "<|user|>\nU<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, PlainFallback) {
  for (const char* jinja : {"", "{{ messages }}", "something unknown"}) {
    auto t = ChatTemplate::detect(jinja);
    EXPECT_EQ(t.format, ChatFormat::kPlain) << jinja;
    EXPECT_EQ(t.render(kConversation),
              "Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: 2+2?\nAssistant:");
    EXPECT_EQ(t.default_stops(), std::vector<std::string>{"\nUser:"});
  }
  EXPECT_EQ(ChatTemplate{}.render({{"user", "x"}}), "User: x\nAssistant:");
}

TEST(StopMatcher, StopsAcrossPiecesAndHoldsBackPrefixes) {
  StopMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.push("abc E"), "abc ");  // "E" may start END
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("X"), "ENX");  // it did not
  EXPECT_EQ(m.push("yy\n"), "yy");
  EXPECT_EQ(m.push("\nzz"), "");  // "\n\n" found
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, FlushReleasesHeldText) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("xST"), "x");
  EXPECT_EQ(m.flush(), "ST");
  EXPECT_FALSE(m.stopped());
  StopMatcher none({});
  EXPECT_EQ(none.push("anything"), "anything");
  StopMatcher within({"b"});
  EXPECT_EQ(within.push("abc"), "a");  // stop inside one piece
  EXPECT_TRUE(within.stopped());
}

TEST(StopMatcher, EarliestStopWins) {
  StopMatcher m({"cd", "b"});
  EXPECT_EQ(m.push("abcd"), "a");
}

TEST(ServerJsonDepth, CountsNestingOutsideStrings) {
  EXPECT_EQ(json_depth("{}", 10), 1);
  EXPECT_EQ(json_depth("{\"a\":[[1]]}", 10), 3);
  EXPECT_EQ(json_depth("{\"a\":\"[[[[\\\"[[\"}", 10), 1);
  EXPECT_GT(json_depth(std::string(100000, '['), 32), 32);
}

GenerationParams parse_ok(const std::string& body, Endpoint ep = Endpoint::kCompletions) {
  auto r = parse_generation_request(body, ep);
  EXPECT_TRUE(r.ok) << body << " -> " << r.error.message;
  return r.value;
}

ApiError parse_err(const std::string& body, Endpoint ep = Endpoint::kCompletions) {
  auto r = parse_generation_request(body, ep);
  EXPECT_FALSE(r.ok) << body;
  EXPECT_GE(r.error.http_status, 400);
  EXPECT_LT(r.error.http_status, 500);
  return r.error;
}

TEST(ServerRequest, ParsesCompletionFields) {
  auto p = parse_ok(R"({"model":"m","prompt":["hi"],"max_tokens":7,"temperature":0,"top_p":0.5,
    "top_k":3,"min_p":0.1,"seed":-5,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},
    "n":1,"echo":false,"logprobs":null,"user":"u","presence_penalty":0})");
  EXPECT_EQ(p.model, "m");
  EXPECT_EQ(p.prompt, "hi");
  EXPECT_EQ(*p.max_tokens, 7);
  EXPECT_EQ(p.sampling.temp, 0.0f);
  EXPECT_EQ(p.sampling.top_k, 3);
  EXPECT_TRUE(p.seed_given);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_EQ(parse_ok(R"({"prompt":"x"})").model, "");
  EXPECT_EQ(parse_ok(R"({"model":null,"prompt":"x"})").model, "");
  auto ids = parse_ok(R"({"model":"m","prompt":[1,2,3]})");
  EXPECT_TRUE(ids.prompt_is_ids);
  EXPECT_EQ(ids.prompt_ids.size(), 3u);
}

TEST(ServerRequest, ParsesChatMessages) {
  auto p = parse_ok(R"({"model":"m","messages":[{"role":"developer","content":"s"},
    {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
    "max_completion_tokens":3})",
                    Endpoint::kChat);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].role, "system");
  EXPECT_EQ(p.messages[1].content, "ab");
  EXPECT_EQ(*p.max_tokens, 3);
}

TEST(ServerRequest, RejectsWithTheOffendingParam) {
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","max_tokens":"16"})").param, "max_tokens");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","temperature":"NaN"})").param, "temperature");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","temperature":1e400})").http_status, 400);
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","n":2})").param, "n");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","logprobs":1})").param, "logprobs");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})").param, "stop");
  EXPECT_EQ(
      parse_err(R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})").param,
      "stream_options");
  EXPECT_EQ(parse_err(R"({"model":5,"prompt":"x"})").param, "model");
  EXPECT_EQ(parse_err(R"({"model":"m"})").param, "prompt");
  EXPECT_EQ(parse_err(R"({"model":"m","prompt":["a","b"]})").param, "prompt");
  EXPECT_EQ(
      parse_err(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", Endpoint::kChat)
          .param,
      "messages[0].role");
  EXPECT_EQ(parse_err(R"({"model":"m","messages":[{"role":"user"}]})", Endpoint::kChat).param,
            "messages[0].content");
  EXPECT_EQ(parse_err("{\"model\":\"m\",").http_status, 400);
  EXPECT_EQ(parse_err("[1,2]").http_status, 400);
  EXPECT_NE(parse_err(std::string(5000, '[')).message.find("deeper"), std::string::npos);
}

}  // namespace
}  // namespace ll::server
