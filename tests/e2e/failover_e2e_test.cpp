// Issue 12 acceptance with real processes: `serve` and `run` over worker processes that are
// killed (SIGKILL), restarted on their address, or stalled (SIGSTOP). Every request completes
// with the text of an undisturbed run; with no worker left the server says 503 and recovers
// when they come back. Kills happen at counts of streamed events or worker passes (observable
// progress), never after sleeps. A synthetic model is enough: any model's output depends on its
// prompt and sampler state, so a wrong replay shows as different text.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "chaos.h"
#include "process.h"
#include "runtime/child_process.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

namespace fs = std::filesystem;
using chaos::Http;
using chaos::Outcome;

std::string synth_model() {
  const std::string path = temp_path("failover_synth.gguf");
  if (!fs::exists(path)) {
    std::string out;
    EXPECT_EQ(run_binary({"synth", "--preset", "tiny", "--type", "Q8_0", "-o", path}, &out), 0);
  }
  return path;
}

std::unique_ptr<runtime::LocalCluster> insecure_workers(int n, const std::string& tag,
                                                        bool verbose = false,
                                                        const std::vector<std::string>& more = {}) {
  runtime::LocalClusterOptions o;
  o.binary = binary();
  o.insecure = true;
  o.logs_to_files = true;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> args = {"--threads", "1", "--cache-dir",
                                     temp_path(tag + "_cache_" + std::to_string(i))};
    if (verbose) args.push_back("--verbose");
    args.insert(args.end(), more.begin(), more.end());
    o.workers.push_back({tag + "w" + std::to_string(i), args});
  }
  auto c = runtime::LocalCluster::start(o);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? std::move(*c) : nullptr;
}

std::string all_logs(runtime::LocalCluster& c) {
  std::string s;
  for (int i = 0; i < c.size(); ++i)
    s += "--- worker " + std::to_string(i) + ":\n" + c.worker(i).log();
  return s;
}

// `serve` on 4 worker processes with even placement, so every worker is in the ring and every
// kill hits it. On a test failure the destructor prints the server's and the workers' logs.
struct ServeRing {
  std::unique_ptr<runtime::LocalCluster> workers;
  std::unique_ptr<runtime::ChildProcess> server;
  std::string url;
  std::string notes;  // printed with the logs on failure

  ServeRing(const std::string& tag, const std::vector<std::string>& extra,
            const std::vector<std::string>& worker_args = {}) {
    workers = insecure_workers(4, tag, false, worker_args);
    if (!workers) return;
    runtime::SpawnOptions so;
    so.log_file = temp_path(tag + "_serve.log");
    const std::string ready = temp_path(tag + "_serve.ready");
    std::vector<std::string> args = {"lingualinked",
                                     "serve",
                                     "-m",
                                     synth_model(),
                                     "--workers",
                                     workers->address_list(4),
                                     "--insecure",
                                     "--port",
                                     "0",
                                     "--placement",
                                     "even",
                                     "--max-seqs",
                                     "8",
                                     "--ctx",
                                     "256",
                                     "--cache-dir",
                                     temp_path(tag + "_head_cache"),
                                     "--ready-file",
                                     ready};
    args.insert(args.end(), extra.begin(), extra.end());
    auto s = runtime::ChildProcess::spawn(binary(), args, so);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    if (!s.is_ok()) return;
    server = std::move(*s);
    auto u = server->wait_for_file(ready, 120);
    EXPECT_TRUE(u.is_ok()) << u.status().to_string();
    if (u.is_ok()) url = *u;
  }
  ~ServeRing() {
    if (server && ::testing::Test::HasFailure()) {
      std::fprintf(stderr, "%s\nserver log:\n%s\n", notes.c_str(), server->log().c_str());
      if (workers) std::fprintf(stderr, "%s\n", all_logs(*workers).c_str());
    }
  }
  bool ok() const { return workers && server && !url.empty(); }
  Http http() const { return Http(url); }
  double failovers() const {
    return chaos::metric(http().get("/metrics").second, "ll_failovers_total");
  }
  // Whether every device is up within the timeout (at most 60 s): one long-poll of /health,
  // which the server answers as soon as its ring is whole.
  bool wait_whole(int timeout_s) const {
    const std::string q = "/health?wait_for=whole&timeout=" + std::to_string(timeout_s);
    auto [status, body] = http().get(q, timeout_s + 10);
    return status == 200 && body.find("\"lost\"") == std::string::npos;
  }
};

std::vector<Outcome> undisturbed(const Http& http, const std::vector<chaos::Request>& reqs) {
  auto rep = chaos::run(http, reqs, nullptr, {});
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(rep.outcomes[i].status, 200) << "request " << i << ": " << rep.outcomes[i].error;
    EXPECT_EQ(rep.outcomes[i].error, "") << "request " << i;
    EXPECT_FALSE(rep.outcomes[i].text.empty()) << "request " << i;
  }
  return rep.outcomes;
}

void expect_same(const std::vector<Outcome>& want, const std::vector<Outcome>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].status, 200) << "request " << i << ": " << got[i].error;
    EXPECT_EQ(got[i].error, "") << "request " << i;
    EXPECT_EQ(got[i].finish, want[i].finish) << "request " << i;
    EXPECT_EQ(got[i].text, want[i].text) << "request " << i;
  }
}

TEST(ServeChaos, FiveKillsDuringEightRequestsChangeNoText) {
  // 10 ms of emulated latency per hop slows the tiny model's streams to several seconds, so
  // kills and restarts land while requests run (also on a fast machine).
  ServeRing ring("chaos", {}, {"--latency-ms", "10"});
  ASSERT_TRUE(ring.ok());
  const auto reqs = chaos::requests(8, 128);
  const auto want = undisturbed(ring.http(), reqs);
  const int total = chaos::total_events(want);
  ASSERT_GT(total, 100) << "the streams must give the kills room";
  // Issue 11: a networked serve exports each device's stage time and traffic (head + 4 workers).
  const std::string metrics = ring.http().get("/metrics").second;
  for (const char* family :
       {"ll_device_stage_seconds{device=", "ll_device_sent_bytes_total{device=",
        "ll_device_received_bytes_total{device="}) {
    size_t n = 0;
    for (size_t at = metrics.find(family); at != std::string::npos;
         at = metrics.find(family, at + 1))
      ++n;
    EXPECT_EQ(n, 5u) << family << "\n" << metrics;
  }
  const auto actions = chaos::schedule(/*seed=*/12, /*n_kills=*/5, 4, total);
  const auto rep = chaos::run(ring.http(), reqs, ring.workers.get(), actions);
  for (const auto& l : rep.log) ring.notes += l + "\n";
  EXPECT_EQ(rep.kills, 5) << ring.notes;
  EXPECT_EQ(rep.restarts, 5) << ring.notes;
  expect_same(want, rep.outcomes);
  // Kills close together may be handled in one recovery; at least one happened.
  const double failovers = ring.failovers();
  EXPECT_GE(failovers, 1);
  std::printf("%s%.0f failovers; %d streamed events\n", ring.notes.c_str(), failovers, total);
  EXPECT_TRUE(ring.wait_whole(30)) << ring.http().get("/health").second;
  // The re-admitted ring still gives the same text.
  expect_same(want, chaos::run(ring.http(), reqs, nullptr, {}).outcomes);
}

// Whether /health says 503 within the timeout: one long-poll, answered when the ring degrades.
bool wait_not_serving(const ServeRing& ring, int timeout_s) {
  const std::string q = "/health?wait_for=degraded&timeout=" + std::to_string(timeout_s);
  return ring.http().get(q, timeout_s + 10).first == 503;
}

// The head learns of the loss a few milliseconds after the kill (zmq sees the closed links; the
// idle token loop looks every 50 ms): once it has, a new request is refused at once.
TEST(ServeFailover, AllWorkersKilledIs503UntilTheyAreRestarted) {
  // 64 KiB: the head holds its share of the tiny model, never the whole of it.
  ServeRing ring("allkilled", {"--mem-budget", "64KiB"});
  ASSERT_TRUE(ring.ok());
  auto reqs = chaos::requests(4, 32);  // greedy and seeded, streamed and not
  const auto want = undisturbed(ring.http(), reqs);
  const double t0 = runtime::monotonic_s();
  for (int i = 0; i < 4; ++i) ring.workers->kill_worker(i);
  ASSERT_TRUE(wait_not_serving(ring, 5)) << ring.http().get("/health").second;
  for (size_t r = 0; r < reqs.size(); ++r) {
    const Outcome refused = chaos::send(ring.http(), reqs[r], nullptr);
    EXPECT_EQ(refused.status, 503) << "request " << r << ": " << refused.error;
    EXPECT_NE(refused.error.find("cannot hold the model"), std::string::npos) << refused.error;
  }
  EXPECT_LT(runtime::monotonic_s() - t0, 5.0);
  auto [status, body] = ring.http().get("/health");
  EXPECT_EQ(status, 503) << body;
  auto health = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(health.is_discarded()) << body;
  EXPECT_EQ(health.value("status", ""), "degraded") << body;
  ASSERT_EQ(health["devices"].size(), 5u) << body;
  for (int i = 1; i < 5; ++i) EXPECT_EQ(health["devices"][i]["state"], "lost") << body;
  // /metrics answers without asking the lost devices (a scrape must not time out).
  const double m0 = runtime::monotonic_s();
  EXPECT_EQ(chaos::metric(ring.http().get("/metrics").second, "ll_ring_serving"), 0);
  EXPECT_LT(runtime::monotonic_s() - m0, 5.0) << "/metrics while degraded";

  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.workers->restart_worker(i).is_ok());
  ASSERT_TRUE(ring.wait_whole(30)) << ring.http().get("/health").second;
  // No server restart: the next requests succeed, with the same text as before.
  expect_same(want, chaos::run(ring.http(), reqs, nullptr, {}).outcomes);
  EXPECT_EQ(chaos::metric(ring.http().get("/metrics").second, "ll_ring_serving"), 1);
}

// A request sent right after the last worker died, before the head noticed (a window of up to
// ~50 ms), is admitted; when the ring degrades it has no token yet, so it is refused at once
// with a 503 rather than waiting --failover-wait as a request already generating does.
TEST(ServeFailover, RequestSentRightAfterAllWorkersDieIs503Within5s) {
  ServeRing ring("allkilled_now", {"--mem-budget", "64KiB"});
  ASSERT_TRUE(ring.ok());
  auto reqs = chaos::requests(4, 32);
  undisturbed(ring.http(), reqs);
  for (int i = 0; i < 4; ++i) ring.workers->kill_worker(i);
  const double t0 = runtime::monotonic_s();
  const Outcome refused = chaos::send(ring.http(), reqs[2], nullptr);  // greedy, not streamed
  const double waited = runtime::monotonic_s() - t0;
  EXPECT_EQ(refused.status, 503) << refused.error;
  EXPECT_LT(waited, 5.0) << refused.error;
}

TEST(ServeFailover, WorkerStalledForHalfASecondCausesNoFailover) {
  ServeRing ring("stall", {});
  ASSERT_TRUE(ring.ok());
  const auto reqs = chaos::requests(8, 128);
  const auto want = undisturbed(ring.http(), reqs);
  // Worker 2 stops for 0.5 s once a quarter of the streamed events arrived: the ring waits
  // for it (every worker holds layers), below the 1 s heartbeat timeout.
  const pid_t pid = ring.workers->worker(2).pid();
  std::atomic<int> events{0};
  std::atomic<bool> stopped{false};
  std::atomic<int> events_at_cont{-1};
  const int at = chaos::total_events(want) / 4;
  std::vector<Outcome> got(reqs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i) {
    threads.emplace_back([&, i] {
      got[i] = chaos::send(ring.http(), reqs[i], [&] {
        if (++events == at) {
          stopped = true;
          ::kill(pid, SIGSTOP);
          // The stall itself is the stimulus being tested, not a synchronization.
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          events_at_cont = events.load();
          ::kill(pid, SIGCONT);
        }
      });
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(stopped.load()) << "the streams ended before " << at << " events";
  EXPECT_LT(events_at_cont.load(), chaos::total_events(want)) << "the stall was not mid-stream";
  expect_same(want, got);
  EXPECT_EQ(ring.failovers(), 0);
  auto [status, body] = ring.http().get("/health");
  EXPECT_EQ(status, 200) << body;
  EXPECT_EQ(body.find("\"lost\""), std::string::npos) << body;
}

// How many forward passes the worker's --verbose log shows so far (it writes a line per pass).
int passes_seen(runtime::ChildProcess& w) {
  const std::string log = w.log();
  int n = 0;
  for (size_t p = log.find(": STEP from"); p != std::string::npos;
       p = log.find(": STEP from", p + 1))
    ++n;
  return n;
}

// Blocks until done() holds, looking again each time `file` is written to (inotify), never on
// a timer; false at the deadline, or when the process behind `pidfd` exits first.
bool wait_for_writes(const std::string& file, int pidfd, double timeout_s,
                     const std::function<bool()>& done) {
  const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0 || ::inotify_add_watch(in, file.c_str(), IN_MODIFY) < 0) {
    ADD_FAILURE() << "inotify on " << file << ": " << std::strerror(errno);
    if (in >= 0) ::close(in);
    return false;
  }
  const double end = runtime::monotonic_s() + timeout_s;
  bool ok = false;
  // The watch is in place before each look, so a write after the look always wakes the poll.
  while (!(ok = done())) {
    const double left = end - runtime::monotonic_s();
    if (left <= 0) break;
    pollfd fds[2] = {{in, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(left * 1e3) + 1);
    if (n < 0 && errno != EINTR) break;
    if (fds[1].revents) {  // exited: what it wrote before is all there will be
      ok = done();
      break;
    }
    char buf[4096];
    while (::read(in, buf, sizeof buf) > 0) {
    }
  }
  ::close(in);
  return ok;
}

TEST(RunFailover, WorkerKilledMidGenerationPrintsTheFailoverAndTheSameTokens) {
  // 2 ms per hop: 400 tokens take seconds, so the kill after 40 passes lands mid-generation
  // even when this process is slow to read the log.
  auto workers = insecure_workers(3, "runkill", /*verbose=*/true, {"--latency-ms", "2"});
  ASSERT_TRUE(workers);
  const std::string model = synth_model();
  const std::string out_file = temp_path("run_kill.json");
  auto run_args = [&](const std::string& temp) {
    return "exec '" + binary() + "' run -m '" + model + "' --workers " + workers->address_list(3) +
           " --insecure --placement even --prompt-ids 1,5,9 -n 400 --temp " + temp +
           " --seed 5 --json --cache-dir '" + temp_path("run_head_cache") + "' > '" + out_file +
           "'";
  };
  auto read_json = [&] {
    std::ifstream in(out_file);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    auto j = nlohmann::json::parse(s, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << s;
    return j;
  };
  for (const std::string temp : {"0", "0.8"}) {
    SCOPED_TRACE("temp " + temp);
    std::string out, err;
    // Undisturbed reference on the same workers.
    runtime::SpawnOptions so;
    so.log_file = temp_path("run_ref.log");
    auto ref = runtime::ChildProcess::spawn("/bin/sh", {"sh", "-c", run_args(temp)}, so);
    ASSERT_TRUE(ref.is_ok());
    ASSERT_TRUE((*ref)->wait_exit(120));
    ASSERT_EQ((*ref)->exit_code(), 0) << (*ref)->log();
    const auto want = read_json();
    // Seeded sampling may meet the end of text early; greedy runs to 400 tokens.
    ASSERT_GE(want["tokens"].size(), 150u) << want.dump();
    EXPECT_EQ(want["failovers"], 0);

    // Worker 1 is killed once it has run 40 passes of this run (the prefill and 39 tokens): its
    // log says so, and each line it writes wakes the wait.
    const int before = passes_seen(workers->worker(1));
    so.log_file = temp_path("run_kill.log");
    auto run = runtime::ChildProcess::spawn("/bin/sh", {"sh", "-c", run_args(temp)}, so);
    ASSERT_TRUE(run.is_ok());
    const int pidfd = runtime::open_pidfd((*run)->pid());
    ASSERT_GE(pidfd, 0) << std::strerror(errno);
    int seen = 0;
    const bool reached = wait_for_writes(workers->worker(1).log_file(), pidfd, 60, [&] {
      return (seen = passes_seen(workers->worker(1)) - before) >= 40;
    });
    ::close(pidfd);
    ASSERT_TRUE(reached) << "the run ended or stalled after " << seen << " passes:\n"
                         << (*run)->log();
    workers->kill_worker(1);
    ASSERT_TRUE((*run)->wait_exit(120));
    const std::string log = (*run)->log();
    ASSERT_EQ((*run)->exit_code(), 0) << log;
    const auto got = read_json();
    EXPECT_EQ(got["tokens"], want["tokens"]);
    EXPECT_EQ(got["failovers"], 1) << log;
    EXPECT_TRUE(std::regex_search(
        log, std::regex("device [^ ]+ lost; replanned onto 3 devices; replayed 1 sequences, "
                        "[0-9]+ tokens, in [0-9.]+ s")))
        << log;
    ASSERT_TRUE(workers->restart_worker(1).is_ok());
  }
}

}  // namespace
}  // namespace ll::testing
