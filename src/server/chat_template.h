// Chat prompts without a Jinja engine: the GGUF's tokenizer.chat_template is only inspected for
// the markers of a few well-known formats, and the prompt is rendered by hand in that format.
// Anything unrecognised gets a plain "User:/Assistant:" transcript.
#pragma once

#include <string>
#include <vector>

namespace ll::server {

enum class ChatFormat { kChatMl, kLlama2, kLlama3, kZephyr, kPlain };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::kPlain;
  // Zephyr-style templates end turns with "</s>"; Phi-3 uses the same roles with "<|end|>".
  std::string end_of_turn;

  // Picks the format from the template text ("" = the model has none).
  static ChatTemplate detect(const std::string& jinja);

  // The prompt up to and including the assistant's header, ready for generation. BOS is never
  // written here: the tokenizer adds it when the vocabulary asks for it. Special tokens appear
  // literally, so the text must be tokenized with parse_special.
  std::string render(const std::vector<ChatMessage>& messages) const;

  // Extra stop strings the format needs on the text (the plain transcript would otherwise
  // continue by writing the user's next turn); special-token formats stop on end-of-generation
  // tokens instead.
  std::vector<std::string> default_stops() const;
};

const char* chat_format_name(ChatFormat f);

}  // namespace ll::server
