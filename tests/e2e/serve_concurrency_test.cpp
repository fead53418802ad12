// Issue 7: 16 concurrent greedy requests to `serve` on 3 local worker processes each return
// exactly what the same prompt returns alone. A synthetic model is enough (any model's output
// depends on its prompt, so cross-talk between sequences shows), so no ../shared is needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "process.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

std::string curl_completion(int port, const std::string& prompt) {
  nlohmann::json body = {{"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0}};
  const std::string cmd = "curl -s -m 60 -H 'Content-Type: application/json' -d '" + body.dump() +
                          "' http://127.0.0.1:" + std::to_string(port) + "/v1/completions";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("choices")) return "<bad response: " + out + ">";
  return j["choices"][0]["text"].get<std::string>();
}

TEST(ServeCluster, SixteenConcurrentRequestsOnThreeWorkersMatchAlone) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  const std::string model = temp_path("serve_synth.gguf");
  std::string out;
  ASSERT_EQ(run_binary({"synth", "--preset", "tiny", "--type", "Q8_0", "-o", model}, &out), 0);
  // Paths are made before fork(): the child must not be the one to create temp_dir().
  const std::string log = temp_path("serve.log");
  const std::string cache = temp_path("serve_cache");
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    execl(binary().c_str(), "lingualinked", "serve", "-m", model.c_str(), "--n-devices", "4",
          "--port", "0", "--max-seqs", "16", "--ctx", "128", "--cache-dir", cache.c_str(), nullptr);
    _exit(127);
  }
  // Stops the server if an assertion returns early, so it does not outlive the test process
  // (and its temp dir).
  struct Stop {
    pid_t pid;
    ~Stop() {
      if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
      }
    }
  } stop{pid};
  int port = 0;
  for (int i = 0; i < 300 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    std::smatch m;
    if (std::regex_search(text, m, std::regex("on http://127\\.0\\.0\\.1:(\\d+)")))
      port = std::stoi(m[1]);
  }
  ASSERT_GT(port, 0) << "server did not start";
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i)
    prompts.push_back(std::vector<std::string>{"Once upon a time", "The cat", "Lily had a",
                                               "One day, Tom"}[i % 4] +
                      std::string(i / 4, '!'));
  std::vector<std::string> together(16);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] { together[i] = curl_completion(port, prompts[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 16; ++i) {
    const std::string alone = curl_completion(port, prompts[i]);
    EXPECT_EQ(together[i], alone) << "request " << i;
    EXPECT_EQ(alone.find("<bad"), std::string::npos) << alone;
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  stop.pid = -1;
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("over ZeroMQ"), std::string::npos) << text;
}

}  // namespace
}  // namespace ll::testing
