// Chat prompts without a Jinja engine: the GGUF's tokenizer.chat_template is only inspected for
// the markers of the well-known formats, and the prompt is rendered by hand in that format. A
// file without a template gets its architecture's usual format; an unrecognised template gets
// a warning and the plain "User:/Assistant:" transcript. See docs/server.md for the list.
#pragma once

#include <string>
#include <vector>

namespace ll::server {

enum class ChatFormat {
  kChatMl,     // Qwen2 and other <|im_start|> models
  kLlama2,     // [INST] <<SYS>> ... (Llama-2-chat; Mistral-style [INST] templates too)
  kLlama3,     // <|start_header_id|> ... <|eot_id|>
  kZephyr,     // <|user|>\n ... </s>
  kPhi3,       // <|user|>\n ... <|end|>
  kGemma,      // <start_of_turn>user ... <end_of_turn>
  kDeepSeek,   // User: ...\n\nAssistant: ...<eos> (deepseek-llm chat)
  kFalcon,     // System: / User: / Falcon: lines (Falcon instruct and chat)
  kConcatEos,  // every message followed by EOS (the GPT-2 and BLOOM tokenizers' default)
  kPlain,      // fallback: "User: ..." / "Assistant: ..." transcript
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// What the template text cannot say on its own.
struct ChatContext {
  std::string arch;         // general.architecture; picks the format when the file has no template
  std::string bos = "<s>";  // the vocabulary's BOS and EOS texts, as bos_token / eos_token
  std::string eos = "</s>";
  bool has_llama3_headers = false;  // the vocabulary has <|start_header_id|>
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::kPlain;
  std::string bos = "<s>";
  std::string eos = "</s>";
  // ChatML templates that insert a system message when the conversation has none (Qwen2's
  // "You are a helpful assistant.").
  std::string default_system;
  // Non-empty when the file had a template we did not recognise (the plain fallback is used).
  std::string warning;

  // Picks the format from the template text ("" = the model has none).
  static ChatTemplate detect(const std::string& jinja, const ChatContext& ctx = {});

  // The prompt up to and including the assistant's header, ready for generation. The first BOS
  // is never written here: the tokenizer adds it when the vocabulary asks for it. Special
  // tokens appear literally, so the text must be tokenized with parse_special.
  std::string render(const std::vector<ChatMessage>& messages) const;

  // Extra stop strings the format needs on the text (the plain transcripts would otherwise
  // continue by writing the user's next turn); special-token formats stop on end-of-generation
  // tokens instead.
  std::vector<std::string> default_stops() const;
};

const char* chat_format_name(ChatFormat f);

}  // namespace ll::server
