// Chaos against `serve` (issue 12): concurrent OpenAI requests over HTTP while worker processes
// are killed and restarted. Shared by the e2e test (5 kills) and bench/failover_bench (20 kills);
// no gtest here. Kills happen at streamed-event counts drawn from a seeded RNG, not at times,
// so a run is reproducible up to the scheduling of the processes.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/local_cluster.h"

namespace ll::testing::chaos {

struct Request {
  std::string prompt;
  float temp = 0;
  int64_t seed = 0;
  bool stream = false;
  int max_tokens = 128;
};

struct Outcome {
  int status = 0;  // HTTP status, 0 without a response
  std::string text, finish, error;
  int events = 0;  // SSE data events with a choice (streams only)
};

// n requests, alternately greedy and seeded, streamed and not, on distinct prompts.
inline std::vector<Request> requests(int n, int max_tokens) {
  static const char* kPrompts[] = {"Once upon a time", "The cat", "Lily had a", "One day, Tom"};
  std::vector<Request> out;
  for (int i = 0; i < n; ++i) {
    Request r;
    r.prompt = kPrompts[i % 4] + std::string(i / 4, '!');
    r.temp = (i % 2) ? 0.9f : 0.0f;
    r.seed = 1000 + i;
    r.stream = (i / 2) % 2 == 0;
    r.max_tokens = max_tokens;
    out.push_back(r);
  }
  return out;
}

// "http://host:port" -> host, port.
inline bool split_url(const std::string& url, std::string* host, int* port) {
  const size_t s = url.find("://");
  const size_t colon = url.rfind(':');
  if (s == std::string::npos || colon == std::string::npos || colon <= s) return false;
  *host = url.substr(s + 3, colon - s - 3);
  *port = std::atoi(url.c_str() + colon + 1);
  return *port > 0;
}

struct Http {
  std::string host;
  int port = 0;
  explicit Http(const std::string& url) { split_url(url, &host, &port); }
  httplib::Client client(int timeout_s = 120) const {
    httplib::Client c(host, port);
    c.set_read_timeout(timeout_s, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  // Status and body of a GET (status 0: no response); a long-poll needs more than 10 s.
  std::pair<int, std::string> get(const std::string& path, int timeout_s = 10) const {
    auto c = client(timeout_s);
    auto r = c.Get(path.c_str());
    if (!r) return {0, "no response: " + httplib::to_string(r.error())};
    return {r->status, r->body};
  }
};

// The value of an unlabelled Prometheus sample, -1 when absent.
inline double metric(const std::string& body, const std::string& name) {
  size_t p = 0;
  while ((p = body.find(name, p)) != std::string::npos) {
    const bool line_start = p == 0 || body[p - 1] == '\n';
    const size_t after = p + name.size();
    if (line_start && after < body.size() && body[after] == ' ')
      return std::atof(body.c_str() + after + 1);
    p = after;
  }
  return -1;
}

// Sends one completion; on_event() runs after each streamed event that carries a choice.
inline Outcome send(const Http& http, const Request& rq, const std::function<void()>& on_event) {
  nlohmann::json body = {{"prompt", rq.prompt},
                         {"max_tokens", rq.max_tokens},
                         {"temperature", rq.temp},
                         {"seed", rq.seed},
                         {"stream", rq.stream}};
  Outcome out;
  auto c = http.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string raw, pending;
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    if (!rq.stream) return true;
    pending.append(d, n);
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      const std::string ev = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (ev.rfind("data: ", 0) != 0 || ev == "data: [DONE]") continue;
      auto j = nlohmann::json::parse(ev.substr(6), nullptr, false);
      if (j.is_discarded()) {
        out.error += "bad event: " + ev + "; ";
        continue;
      }
      if (j.contains("error")) {
        out.error += j["error"].dump() + "; ";
        continue;
      }
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const auto& ch = j["choices"][0];
      if (ch.contains("text") && ch["text"].is_string()) out.text += ch["text"].get<std::string>();
      if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
        out.finish = ch["finish_reason"].get<std::string>();
      ++out.events;
      if (on_event) on_event();
    }
    return true;
  };
  auto r = c.send(req);
  if (!r) {
    out.error += "no response: " + httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  if (rq.stream && out.status == 200) return out;
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (out.status != 200 || j.is_discarded() || !j.contains("choices") || j["choices"].empty()) {
    out.error += "HTTP " + std::to_string(out.status) + ": " + raw;
    return out;
  }
  const auto& ch = j["choices"][0];
  out.text = ch.value("text", "");
  if (ch.contains("finish_reason") && ch["finish_reason"].is_string())
    out.finish = ch["finish_reason"].get<std::string>();
  return out;
}

// A kill or a restart once `at` streamed events have arrived (over all requests).
struct Action {
  int at = 0;
  bool kill = true;
  int worker = 0;
};

// n_kills kills at event counts in [5%, 85%] of total_events, each of a worker that is up;
// each killed worker comes back a random number of events later, which may be after the next
// kill (two down at once), but never more than two are down.
inline std::vector<Action> schedule(uint64_t seed, int n_kills, int n_workers, int total_events) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> point(total_events / 20, total_events * 85 / 100);
  std::vector<int> kills(n_kills);
  for (int& k : kills) k = point(rng);
  std::sort(kills.begin(), kills.end());
  std::uniform_int_distribution<int> gap(3, std::max(4, total_events / 8));
  std::vector<Action> out;
  std::vector<std::pair<int, int>> down;  // worker, when it comes back
  for (int k : kills) {
    std::sort(down.begin(), down.end(), [](auto& a, auto& b) { return a.second < b.second; });
    while (!down.empty() && (down.front().second <= k || down.size() >= 2)) {
      out.push_back({std::min(down.front().second, k), false, down.front().first});
      down.erase(down.begin());
    }
    std::vector<int> up;
    for (int w = 0; w < n_workers; ++w) {
      bool is_down = false;
      for (auto& d : down) is_down = is_down || d.first == w;
      if (!is_down) up.push_back(w);
    }
    const int w = up[std::uniform_int_distribution<size_t>(0, up.size() - 1)(rng)];
    out.push_back({k, true, w});
    down.push_back({w, k + gap(rng)});
  }
  std::sort(down.begin(), down.end(), [](auto& a, auto& b) { return a.second < b.second; });
  for (auto& d : down) out.push_back({d.second, false, d.first});
  return out;
}

struct Report {
  std::vector<Outcome> outcomes;
  int kills = 0, restarts = 0;
  std::vector<std::string> log;  // what the chaos thread did, at which event count
};

// Sends every request at once and carries out the actions as streamed events arrive. Kills
// due after the last request ended are skipped (Report::kills counts the ones done while
// requests ran); restarts always happen, so the cluster ends whole.
inline Report run(const Http& http, const std::vector<Request>& reqs, runtime::LocalCluster* c,
                  const std::vector<Action>& actions) {
  Report rep;
  rep.outcomes.resize(reqs.size());
  std::mutex mu;
  std::condition_variable cv;
  int events = 0, running = static_cast<int>(reqs.size());
  auto on_event = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++events;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      rep.outcomes[i] = send(http, reqs[i], on_event);
      std::lock_guard<std::mutex> lock(mu);
      --running;
      cv.notify_all();
    });
  }
  std::vector<bool> down(c ? c->size() : 0, false);
  for (const Action& a : actions) {
    int now, left;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return events >= a.at || running == 0; });
      now = events;
      left = running;
    }
    std::string line = "at " + std::to_string(now) + " events (planned " + std::to_string(a.at) +
                       "): " + (a.kill ? "kill" : "restart") + " worker " +
                       std::to_string(a.worker);
    if (a.kill) {
      if (left == 0) {  // a kill between requests tests nothing asked for here
        line += " skipped: every request had ended";
      } else {
        c->kill_worker(a.worker);
        down[a.worker] = true;
        ++rep.kills;
      }
    } else if (!down[a.worker]) {
      line += " skipped: not killed";
    } else {
      down[a.worker] = false;
      Status st = c->restart_worker(a.worker);
      if (st.is_ok()) ++rep.restarts;
      if (!st.is_ok()) line += " FAILED: " + st.to_string();
    }
    rep.log.push_back(line);
  }
  for (auto& t : threads) t.join();
  return rep;
}

// Streamed events of a set of outcomes (the reference run's, to place the kills).
inline int total_events(const std::vector<Outcome>& outs) {
  int n = 0;
  for (const Outcome& o : outs) n += o.events;
  return n;
}

}  // namespace ll::testing::chaos
