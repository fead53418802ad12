#include "server/chat_template.h"

namespace ll::server {

namespace {

bool has(const std::string& s, const char* marker) {
  return s.find(marker) != std::string::npos;
}

// All system messages, joined, wherever they appear: formats with a single system slot put it
// first, which is what these models were trained on.
std::string joined_system(const std::vector<ChatMessage>& messages) {
  std::string sys;
  for (const auto& m : messages) {
    if (m.role != "system") continue;
    if (!sys.empty()) sys += "\n\n";
    sys += m.content;
  }
  return sys;
}

std::string render_chatml(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  return out + "<|im_start|>assistant\n";
}

std::string render_llama3(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  }
  return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
// The first <s> comes from the tokenizer's add_bos.
std::string render_llama2(const std::vector<ChatMessage>& messages) {
  std::string sys = joined_system(messages);
  std::string out;
  bool first_user = true;
  for (const auto& m : messages) {
    if (m.role == "user") {
      out += "[INST] ";
      if (first_user && !sys.empty()) out += "<<SYS>>\n" + sys + "\n<</SYS>>\n\n";
      out += m.content + " [/INST]";
      first_user = false;
    } else if (m.role == "assistant") {
      out += " " + m.content + " </s><s>";
    }
  }
  // A conversation with only a system message still needs an instruction block to answer.
  if (first_user)
    out += "[INST] " + (sys.empty() ? "" : "<<SYS>>\n" + sys + "\n<</SYS>>\n\n") + " [/INST]";
  return out;
}

std::string render_zephyr(const std::vector<ChatMessage>& messages, const std::string& eot) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + eot + "\n";
  return out + "<|assistant|>\n";
}

std::string render_plain(const std::vector<ChatMessage>& messages) {
  std::string out = joined_system(messages);
  if (!out.empty()) out += "\n\n";
  for (const auto& m : messages) {
    if (m.role == "user") out += "User: " + m.content + "\n";
    if (m.role == "assistant") out += "Assistant: " + m.content + "\n";
  }
  return out + "Assistant:";
}

}  // namespace

ChatTemplate ChatTemplate::detect(const std::string& jinja) {
  ChatTemplate t;
  // Llama-3 and ChatML first: their templates never contain the other formats' markers, while
  // some [INST] variants mention <|user|> in comments.
  if (has(jinja, "<|start_header_id|>")) {
    t.format = ChatFormat::kLlama3;
  } else if (has(jinja, "<|im_start|>")) {
    t.format = ChatFormat::kChatMl;
  } else if (has(jinja, "[INST]")) {
    t.format = ChatFormat::kLlama2;
  } else if (has(jinja, "<|user|>")) {
    t.format = ChatFormat::kZephyr;
    t.end_of_turn = has(jinja, "<|end|>") ? "<|end|>" : "</s>";
  }
  return t;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  switch (format) {
    case ChatFormat::kChatMl:
      return render_chatml(messages);
    case ChatFormat::kLlama3:
      return render_llama3(messages);
    case ChatFormat::kLlama2:
      return render_llama2(messages);
    case ChatFormat::kZephyr:
      return render_zephyr(messages, end_of_turn);
    case ChatFormat::kPlain:
      break;
  }
  return render_plain(messages);
}

std::vector<std::string> ChatTemplate::default_stops() const {
  if (format == ChatFormat::kPlain) return {"\nUser:"};
  return {};
}

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatMl:
      return "chatml";
    case ChatFormat::kLlama2:
      return "llama2";
    case ChatFormat::kLlama3:
      return "llama3";
    case ChatFormat::kZephyr:
      return "zephyr";
    case ChatFormat::kPlain:
      break;
  }
  return "plain";
}

}  // namespace ll::server
