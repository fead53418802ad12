#include "server/chat_template.h"

#include <algorithm>

namespace ll::server {

namespace {

bool has(const std::string& s, const char* marker) {
  return s.find(marker) != std::string::npos;
}

std::string without_spaces(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n') o.push_back(c);
  }
  return o;
}

// Jinja's trim / Python's strip(): leading and trailing whitespace.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
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

// Qwen2-style templates write a fixed system message when the conversation starts without
// one: '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' as a string literal. The
// newline may be a real one or a "\n" escape in the Jinja source.
std::string chatml_default_system(const std::string& jinja) {
  const std::string head = "<|im_start|>system";
  for (size_t at = jinja.find(head); at != std::string::npos; at = jinja.find(head, at + 1)) {
    size_t p = at + head.size();
    if (jinja.compare(p, 1, "\n") == 0) {
      p += 1;
    } else if (jinja.compare(p, 2, "\\n") == 0) {
      p += 2;
    } else {
      continue;
    }
    const size_t end = jinja.find("<|im_end|>", p);
    if (end == std::string::npos) continue;
    const std::string text = jinja.substr(p, end - p);
    // A literal, not an expression such as "' + message['content'] + '".
    if (text.empty() || text.find_first_of("'\"{}+") != std::string::npos) continue;
    std::string out;
    for (size_t k = 0; k < text.size(); ++k) {
      if (text[k] == '\\' && k + 1 < text.size() && text[k + 1] == 'n') {
        out.push_back('\n');
        ++k;
      } else {
        out.push_back(text[k]);
      }
    }
    return out;
  }
  return "";
}

std::string render_chatml(const std::vector<ChatMessage>& messages, const std::string& def_sys) {
  std::string out;
  if (!def_sys.empty() && (messages.empty() || messages[0].role != "system")) {
    out += "<|im_start|>system\n" + def_sys + "<|im_end|>\n";
  }
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  return out + "<|im_start|>assistant\n";
}

// Llama-3's template trims each message.
std::string render_llama3(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    out +=
        "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// Llama-2-chat: bos + '[INST] ' + content.strip() + ' [/INST]' per user turn, where the first
// user turn's content is '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + message; ' ' +
// content.strip() + ' ' + eos per assistant turn. The first BOS comes from the tokenizer.
std::string render_llama2(const std::vector<ChatMessage>& messages, const std::string& bos,
                          const std::string& eos) {
  const std::string sys = joined_system(messages);
  const std::string sys_block = sys.empty() ? "" : "<<SYS>>\n" + sys + "\n<</SYS>>\n\n";
  // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on chains like " " + s + x.
  std::string out;
  bool first_user = true;
  for (const auto& m : messages) {
    if (m.role == "user") {
      if (!first_user) out += bos;
      out += "[INST] ";
      out += trim((first_user ? sys_block : std::string()) + m.content);
      out += " [/INST]";
      first_user = false;
    } else if (m.role == "assistant") {
      out += ' ';
      out += trim(m.content);
      out += ' ';
      out += eos;
    }
  }
  // A conversation with only a system message still needs an instruction block to answer.
  if (first_user) out += "[INST] " + sys_block + " [/INST]";
  return out;
}

// Zephyr and Phi-3: '<|role|>\n' + content + end + '\n', then '<|assistant|>\n'.
std::string render_role_tags(const std::vector<ChatMessage>& messages, const std::string& end) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + end + "\n";
  return out + "<|assistant|>\n";
}

// Gemma: roles user and model, trimmed content; it has no system role, so system text leads
// the first user turn (the template itself would refuse the conversation).
std::string render_gemma(const std::vector<ChatMessage>& messages) {
  const std::string sys = joined_system(messages);
  std::string out;
  bool first_user = true;
  for (const auto& m : messages) {
    if (m.role == "system") continue;
    std::string content = trim(m.content);
    if (m.role == "user" && first_user && !sys.empty()) content = trim(sys) + "\n\n" + content;
    if (m.role == "user") first_user = false;
    out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : "user") + "\n" +
           content + "<end_of_turn>\n";
  }
  return out + "<start_of_turn>model\n";
}

// deepseek-llm chat: system + '\n\n', 'User: ' + content + '\n\n', 'Assistant: ' + content +
// eos, then 'Assistant:'.
std::string render_deepseek(const std::vector<ChatMessage>& messages, const std::string& eos) {
  std::string out;
  for (const auto& m : messages) {
    if (m.role == "system") out += m.content + "\n\n";
    if (m.role == "user") out += "User: " + m.content + "\n\n";
    if (m.role == "assistant") out += "Assistant: " + m.content + eos;
  }
  return out + "Assistant:";
}

// Falcon: one line per message ("System: ", "User: ", "Falcon: "), then "\nFalcon:".
std::string render_falcon(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (!out.empty()) out += "\n";
    if (m.role == "system") out += "System: ";
    if (m.role == "user") out += "User: ";
    if (m.role == "assistant") out += "Falcon: ";
    out += m.content;
  }
  return out + (out.empty() ? "Falcon:" : "\nFalcon:");
}

std::string render_concat_eos(const std::vector<ChatMessage>& messages, const std::string& eos) {
  std::string out;
  for (const auto& m : messages) out += m.content + eos;
  return out;
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

// The format a template's text asks for, by its markers; kPlain when none is known.
bool format_from_markers(const std::string& jinja, ChatFormat* f) {
  // Llama-3 and ChatML first: their templates never contain the other formats' markers, while
  // some [INST] variants mention <|user|> in comments.
  const std::string compact = without_spaces(jinja);
  if (has(jinja, "<|start_header_id|>")) {
    *f = ChatFormat::kLlama3;
  } else if (has(jinja, "<|im_start|>")) {
    *f = ChatFormat::kChatMl;
  } else if (has(jinja, "[INST]")) {
    *f = ChatFormat::kLlama2;
  } else if (has(jinja, "<start_of_turn>")) {
    *f = ChatFormat::kGemma;
  } else if (has(jinja, "<|user|>")) {
    *f = has(jinja, "<|end|>") ? ChatFormat::kPhi3 : ChatFormat::kZephyr;
  } else if (has(compact, "'Assistant:'+message['content']+eos_token")) {
    *f = ChatFormat::kDeepSeek;
  } else if (has(jinja, "'Falcon:") || has(jinja, "Falcon: ")) {
    *f = ChatFormat::kFalcon;
  } else if (has(compact, "{{message.content}}{{eos_token}}") ||
             has(compact, "{{message['content']}}{{eos_token}}") ||
             has(compact, "{{message['content']+eos_token}}")) {
    *f = ChatFormat::kConcatEos;
  } else {
    return false;
  }
  return true;
}

// Files without a template: the format the family's chat models use. Llama-architecture files
// without one are mostly base models (chat conversions carry their template), so they get the
// plain transcript unless the vocabulary has Llama-3's header tokens.
ChatFormat format_from_arch(const ChatContext& ctx) {
  if (ctx.arch == "llama") return ctx.has_llama3_headers ? ChatFormat::kLlama3 : ChatFormat::kPlain;
  if (ctx.arch == "qwen2") return ChatFormat::kChatMl;
  if (ctx.arch == "phi3") return ChatFormat::kPhi3;
  if (ctx.arch == "falcon") return ChatFormat::kFalcon;
  if (ctx.arch == "gemma" || ctx.arch == "gemma2") return ChatFormat::kGemma;
  // gpt2, bloom and anything else: no chat format of their own.
  return ChatFormat::kPlain;
}

}  // namespace

ChatTemplate ChatTemplate::detect(const std::string& jinja, const ChatContext& ctx) {
  ChatTemplate t;
  t.bos = ctx.bos;
  t.eos = ctx.eos;
  if (jinja.empty()) {
    t.format = format_from_arch(ctx);
    return t;
  }
  if (!format_from_markers(jinja, &t.format)) {
    t.format = ChatFormat::kPlain;
    t.warning =
        "tokenizer.chat_template is not one of the known formats; chat prompts use the plain "
        "\"User:/Assistant:\" transcript";
  }
  if (t.format == ChatFormat::kChatMl) t.default_system = chatml_default_system(jinja);
  return t;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  switch (format) {
    case ChatFormat::kChatMl:
      return render_chatml(messages, default_system);
    case ChatFormat::kLlama3:
      return render_llama3(messages);
    case ChatFormat::kLlama2:
      return render_llama2(messages, bos, eos);
    case ChatFormat::kZephyr:
      return render_role_tags(messages, eos);
    case ChatFormat::kPhi3:
      return render_role_tags(messages, "<|end|>");
    case ChatFormat::kGemma:
      return render_gemma(messages);
    case ChatFormat::kDeepSeek:
      return render_deepseek(messages, eos);
    case ChatFormat::kFalcon:
      return render_falcon(messages);
    case ChatFormat::kConcatEos:
      return render_concat_eos(messages, eos);
    case ChatFormat::kPlain:
      break;
  }
  return render_plain(messages);
}

std::vector<std::string> ChatTemplate::default_stops() const {
  if (format == ChatFormat::kPlain) return {"\nUser:"};
  if (format == ChatFormat::kFalcon) return {"\nUser:"};  // Falcon's turns have no end token
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
    case ChatFormat::kPhi3:
      return "phi3";
    case ChatFormat::kGemma:
      return "gemma";
    case ChatFormat::kDeepSeek:
      return "deepseek";
    case ChatFormat::kFalcon:
      return "falcon";
    case ChatFormat::kConcatEos:
      return "concat-eos";
    case ChatFormat::kPlain:
      break;
  }
  return "plain";
}

}  // namespace ll::server
