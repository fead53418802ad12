#include "server/server_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace ll::server::testing {

std::string raw_http(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  // The server may answer (and close) before it has read everything; stop sending then.
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // No half-close: httplib treats a peer that shut down its sending side as gone and drops
  // the answer. Read one response instead: headers, then Content-Length bytes.
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t cl = out.find("Content-Length: ");
      const size_t want = cl != std::string::npos && cl < head_end
                              ? static_cast<size_t>(std::atoll(out.c_str() + cl + 16))
                              : 0;
      if (out.size() >= head_end + 4 + want) {
        out.resize(head_end + 4 + want);
        break;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

int raw_status(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

json raw_json_body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  if (at == std::string::npos) return json();
  json j = json::parse(response.substr(at + 4), nullptr, false);
  return j.is_discarded() ? json() : j;
}

SseResult parse_sse(const std::string& body) {
  SseResult r;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      r.well_formed = false;  // trailing partial event
      break;
    }
    const std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind(":", 0) == 0) continue;  // comment (keep-alive)
    if (ev.rfind("data: ", 0) != 0 || ev.find('\n') != std::string::npos || r.done) {
      r.well_formed = false;
      continue;
    }
    const std::string data = ev.substr(6);
    if (data == "[DONE]") {
      r.done = true;
      continue;
    }
    json j = json::parse(data, nullptr, false);
    if (j.is_discarded()) {
      r.well_formed = false;
      continue;
    }
    r.events.push_back(std::move(j));
  }
  return r;
}

std::string sse_text(const SseResult& r, std::string* finish_reason) {
  std::string text;
  for (const auto& e : r.events) {
    if (!e.contains("choices") || e["choices"].empty()) continue;
    const json& c = e["choices"][0];
    if (c.contains("text")) text += c["text"].get<std::string>();
    if (c.contains("delta") && c["delta"].contains("content") &&
        c["delta"]["content"].is_string()) {
      text += c["delta"]["content"].get<std::string>();
    }
    if (finish_reason && c["finish_reason"].is_string()) *finish_reason = c["finish_reason"];
  }
  return text;
}

}  // namespace ll::server::testing
