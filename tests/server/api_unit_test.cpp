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
  EXPECT_EQ(phi.format, ChatFormat::kPhi3);
  EXPECT_EQ(phi.render({{"user", "U"}}), "<|user|>\nU<|end|>\n<|assistant|>\n");
}

// ---------------------------------------------------------------------------------------
// One test per family: the published template text (as a GGUF stores it: Jinja string literals'
// "\n" already decoded to newlines), a system message and two user turns, and the prompt that
// template produces with add_generation_prompt, minus the leading BOS the tokenizer adds.

const std::vector<ChatMessage> kTwoTurns = {
    {"system", "You are terse."},
    {"user", "Hi there "},  // the trailing space shows which templates trim
    {"assistant", "Hello!"},
    {"user", "What is 2+2?"},
};

// meta-llama/Llama-2-7b-chat-hf
const char kLlama2Template[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
    "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
    "endfor %}";

TEST(ChatFamily, LlamaTwo) {
  ChatContext ctx;
  ctx.arch = "llama";
  auto t = ChatTemplate::detect(kLlama2Template, ctx);
  EXPECT_EQ(t.format, ChatFormat::kLlama2);
  EXPECT_TRUE(t.warning.empty());
  EXPECT_EQ(t.render(kTwoTurns),
            "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
            "<s>[INST] What is 2+2? [/INST]");
  // No template: a llama file (mostly base models) without Llama-3's header tokens gets the
  // plain transcript.
  EXPECT_EQ(ChatTemplate::detect("", ctx).format, ChatFormat::kPlain);
}

// meta-llama/Meta-Llama-3-8B-Instruct
const char kLlama3Template[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif "
    "%}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

TEST(ChatFamily, LlamaThree) {
  ChatContext ctx;
  ctx.arch = "llama";
  ctx.bos = "<|begin_of_text|>";
  ctx.eos = "<|eot_id|>";
  auto t = ChatTemplate::detect(kLlama3Template, ctx);
  EXPECT_EQ(t.format, ChatFormat::kLlama3);
  EXPECT_EQ(t.render(kTwoTurns),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  ctx.has_llama3_headers = true;
  EXPECT_EQ(ChatTemplate::detect("", ctx).format, ChatFormat::kLlama3);
}

// Qwen/Qwen2-7B-Instruct (ChatML with a default system message)
const char kQwen2Template[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif "
    "%}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

TEST(ChatFamily, Qwen2ChatMl) {
  ChatContext ctx;
  ctx.arch = "qwen2";
  ctx.eos = "<|im_end|>";
  auto t = ChatTemplate::detect(kQwen2Template, ctx);
  EXPECT_EQ(t.format, ChatFormat::kChatMl);
  EXPECT_EQ(t.render(kTwoTurns),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi there <|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  // Without a system message the template writes its own.
  EXPECT_EQ(t.render({{"user", "Hi"}}),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(ChatTemplate::detect("", ctx).format, ChatFormat::kChatMl);
  // Qwen2.5 writes the system slot as an expression first; the literal default comes later.
  auto q25 = ChatTemplate::detect(
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + "
      "messages[0]['content'] + '<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\nYou are "
      "Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}{%- endif %}");
  EXPECT_EQ(q25.default_system,
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  // A ChatML template without a literal system message adds none.
  EXPECT_EQ(ChatTemplate::detect("{{'<|im_start|>' + message['role'] + '\n'}}").default_system, "");
}

// microsoft/Phi-3-mini-4k-instruct
const char kPhi3Template[] =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' "
    "%}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

TEST(ChatFamily, Phi3) {
  ChatContext ctx;
  ctx.arch = "phi3";
  ctx.eos = "<|endoftext|>";
  auto t = ChatTemplate::detect(kPhi3Template, ctx);
  EXPECT_EQ(t.format, ChatFormat::kPhi3);
  EXPECT_EQ(t.render(kTwoTurns),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there <|end|>\n"
            "<|assistant|>\nHello!<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
  EXPECT_EQ(ChatTemplate::detect("", ctx).format, ChatFormat::kPhi3);
}

// tiiuae/falcon-180B-chat (the System:/User:/Falcon: format of the Falcon chat models)
const char kFalconTemplate[] =
    "{% for message in messages %}{% if not loop.first %}{{ '\n' }}{% endif %}{% if "
    "message['role'] == 'system' %}{{ 'System: ' }}{% elif message['role'] == 'user' %}{{ 'User: "
    "' }}{% elif message['role'] == 'assistant' %}{{ 'Falcon: ' }}{% endif %}{{ "
    "message['content'] }}{% endfor %}{% if add_generation_prompt %}{{ '\n' + 'Falcon:' }}{% "
    "endif %}";

TEST(ChatFamily, Falcon) {
  ChatContext ctx;
  ctx.arch = "falcon";
  ctx.eos = "<|endoftext|>";
  auto t = ChatTemplate::detect(kFalconTemplate, ctx);
  EXPECT_EQ(t.format, ChatFormat::kFalcon);
  const std::string want =
      "System: You are terse.\nUser: Hi there \nFalcon: Hello!\nUser: What is 2+2?\nFalcon:";
  EXPECT_EQ(t.render(kTwoTurns), want);
  EXPECT_EQ(t.default_stops(), std::vector<std::string>{"\nUser:"});
  // Falcon base and instruct files carry no template: the same format by architecture.
  EXPECT_EQ(ChatTemplate::detect("", ctx).render(kTwoTurns), want);
}

// The default template of the GPT-2 and BLOOM tokenizers in transformers (their models ship
// none): every message's content followed by EOS.
const char kConcatEosTemplate[] =
    "{% for message in messages %}{{ message.content }}{{ eos_token }}{% endfor %}";
const char kPlainTwoTurns[] =
    "You are terse.\n\nUser: Hi there \nAssistant: Hello!\nUser: What is 2+2?\nAssistant:";

TEST(ChatFamily, Gpt2) {
  ChatContext ctx;
  ctx.arch = "gpt2";
  ctx.bos = ctx.eos = "<|endoftext|>";
  auto t = ChatTemplate::detect(kConcatEosTemplate, ctx);
  EXPECT_EQ(t.format, ChatFormat::kConcatEos);
  EXPECT_EQ(t.render(kTwoTurns),
            "You are terse.<|endoftext|>Hi there <|endoftext|>Hello!<|endoftext|>"
            "What is 2+2?<|endoftext|>");
  // What GPT-2 files really have: no template, so the plain transcript.
  auto plain = ChatTemplate::detect("", ctx);
  EXPECT_EQ(plain.format, ChatFormat::kPlain);
  EXPECT_TRUE(plain.warning.empty());
  EXPECT_EQ(plain.render(kTwoTurns), kPlainTwoTurns);
}

TEST(ChatFamily, Bloom) {
  ChatContext ctx;
  ctx.arch = "bloom";
  auto t = ChatTemplate::detect(kConcatEosTemplate, ctx);
  EXPECT_EQ(t.format, ChatFormat::kConcatEos);
  EXPECT_EQ(t.render(kTwoTurns), "You are terse.</s>Hi there </s>Hello!</s>What is 2+2?</s>");
  auto plain = ChatTemplate::detect("", ctx);
  EXPECT_EQ(plain.format, ChatFormat::kPlain);
  EXPECT_EQ(plain.render(kTwoTurns), kPlainTwoTurns);
}

// google/gemma-2b-it: no system role (the template refuses one), so system text is folded into
// the first user turn.
const char kGemmaTemplate[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% "
    "set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ "
    "'<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor "
    "%}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

TEST(ChatFamily, Gemma) {
  auto t = ChatTemplate::detect(kGemmaTemplate);
  EXPECT_EQ(t.format, ChatFormat::kGemma);
  EXPECT_EQ(t.render(kTwoTurns),
            "<start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n");
}

// deepseek-ai/deepseek-llm-7b-chat
const char kDeepSeekTemplate[] =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif "
    "%}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + "
    "message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + "
    "message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] "
    "+ '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif "
    "%}";

TEST(ChatFamily, DeepSeek) {
  ChatContext ctx;
  ctx.eos = "<｜end▁of▁sentence｜>";
  auto t = ChatTemplate::detect(kDeepSeekTemplate, ctx);
  EXPECT_EQ(t.format, ChatFormat::kDeepSeek);
  EXPECT_EQ(t.render(kTwoTurns),
            "You are terse.\n\nUser: Hi there \n\nAssistant: Hello!<｜end▁of▁sentence｜>"
            "User: What is 2+2?\n\nAssistant:");
}

TEST(ChatFamily, UnknownTemplateWarnsAndFallsBack) {
  ChatContext ctx;
  ctx.arch = "llama";  // a template, even an unknown one, wins over the architecture
  auto t = ChatTemplate::detect("{{ messages | tojson }}", ctx);
  EXPECT_EQ(t.format, ChatFormat::kPlain);
  EXPECT_NE(t.warning.find("tokenizer.chat_template"), std::string::npos);
  EXPECT_EQ(t.render(kTwoTurns), kPlainTwoTurns);
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
