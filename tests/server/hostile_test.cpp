// 200+ malformed or hostile requests, each answered with a 4xx in OpenAI's error format, with
// valid requests interleaved to show the server keeps serving.
#include "server/server_test_util.h"

namespace ll::server::testing {
namespace {

struct Bad {
  std::string what;
  std::string path = "/v1/completions";
  std::string method = "POST";
  std::string body;
  std::string content_type = "application/json";
  int expect = 400;  // 0: any 4xx
};

std::string with(const std::string& field_json, bool chat = false) {
  const std::string base =
      chat ? R"("messages":[{"role":"user","content":"hi"}])" : R"("prompt":"hi")";
  return "{\"model\":\"" + synth_model_id() + "\"," + base +
         (field_json.empty() ? "" : "," + field_json) + "}";
}

std::vector<Bad> bad_requests() {
  std::vector<Bad> v;
  // Not JSON, or not an object.
  for (const char* b : {"",
                        "{",
                        "}",
                        "[",
                        "null",
                        "42",
                        "\"str\"",
                        "[]",
                        "[{}]",
                        "{\"model\":}",
                        "{'model':'x'}",
                        "{\"model\":\"x\",}",
                        "{\"a\":NaN}",
                        "{\"a\":Infinity}",
                        "{\"a\":1} trailing",
                        "{\"a\":1}{\"b\":2}",
                        "/* comment */ {}",
                        "{\"a\":\"\xff\xfe\"}",
                        "{\"a\":\"\\ud800\"}",
                        "\x01\x02",
                        "{\"model\" \"x\"}",
                        "tru",
                        "{\"a\":01}",
                        "{\"a\":-}",
                        "{\"a\":1.}"}) {
    v.push_back({std::string("bad json: ") + b, "/v1/completions", "POST", b});
    v.push_back({std::string("bad chat json: ") + b, "/v1/chat/completions", "POST", b});
  }
  // Missing fields.
  v.push_back({"no prompt", "/v1/completions", "POST", "{\"model\":\"" + synth_model_id() + "\"}"});
  v.push_back(
      {"no messages", "/v1/chat/completions", "POST", "{\"model\":\"" + synth_model_id() + "\"}"});
  v.push_back({"empty object", "/v1/completions", "POST", "{}"});
  // Wrong types and out-of-range values, on both endpoints.
  const std::vector<std::string> fields = {
      R"("model":5)",
      R"("model":["a"])",
      R"("model":{})",
      R"("model":true)",
      R"("max_tokens":"16")",
      R"("max_tokens":-1)",
      R"("max_tokens":0)",
      R"("max_tokens":1.5)",
      R"("max_tokens":true)",
      R"("max_tokens":1e20)",
      R"("max_tokens":99999999999999999999)",
      R"("max_tokens":1000000)",
      R"("max_tokens":9223372036854775807)",
      R"("max_tokens":-9223372036854775808)",
      R"("temperature":"NaN")",
      R"("temperature":"0.5")",
      R"("temperature":-1)",
      R"("temperature":3)",
      R"("temperature":1e400)",
      R"("temperature":true)",
      R"("temperature":[])",
      R"("top_p":2)",
      R"("top_p":-0.1)",
      R"("top_p":"x")",
      R"("top_k":-1)",
      R"("top_k":1.5)",
      R"("top_k":"5")",
      R"("min_p":2)",
      R"("min_p":{})",
      R"("seed":"x")",
      R"("seed":1.5)",
      R"("stop":5)",
      R"("stop":[1])",
      R"("stop":["a","b","c","d","e"])",
      R"("stop":[""])",
      R"("stop":"")",
      R"("stop":{"a":1})",
      R"("stream":"true")",
      R"("stream":1)",
      R"("n":2)",
      R"("n":0)",
      R"("n":"1")",
      R"("echo":true)",
      R"("echo":"no")",
      R"("logprobs":1)",
      R"("logprobs":true)",
      R"("top_logprobs":3)",
      R"("best_of":2)",
      R"("logit_bias":{"1":5})",
      R"("tools":[{"type":"function"}])",
      R"("response_format":{"type":"json_object"})",
      R"("presence_penalty":1)",
      R"("frequency_penalty":-3)",
      R"("stream_options":{"include_usage":true})",
      R"("stream":true,"stream_options":"x")",
      R"("stream":true,"stream_options":{"include_usage":"yes"})",
      R"("user":5)",
      R"("repeat_penalty":0)",
      R"("max_completion_tokens":"3")"};
  for (const auto& f : fields) {
    v.push_back({"completions " + f, "/v1/completions", "POST", with(f)});
    v.push_back({"chat " + f, "/v1/chat/completions", "POST", with(f, true)});
  }
  // Prompt and message shapes.
  const std::string m = "{\"model\":\"" + synth_model_id() + "\",";
  for (const char* p : {R"(5)", R"({})", R"(true)", R"([])", R"(["a","b"])", R"([1.5])",
                        R"([[1,2]])", R"([-1])", R"([600000])", R"([1,"a"])", R"([null])"}) {
    v.push_back(
        {std::string("prompt ") + p, "/v1/completions", "POST", m + "\"prompt\":" + p + "}"});
  }
  for (const char* msgs :
       {R"("hi")", R"({})", R"([])", R"([1])", R"([{"role":1,"content":"x"}])",
        R"([{"role":"tool","content":"x"}])", R"([{"role":"user"}])",
        R"([{"role":"user","content":5}])", R"([{"role":"user","content":null}])",
        R"([{"role":"user","content":[{"type":"image_url","image_url":"x"}]}])",
        R"([{"content":"x"}])", R"([{"role":"user","content":[1]}])"}) {
    v.push_back({std::string("messages ") + msgs, "/v1/chat/completions", "POST",
                 m + "\"messages\":" + msgs + "}"});
  }
  // Beyond the context (512): a long prompt, and prompt + max_tokens.
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "word" + std::to_string(i) + " ";
  v.push_back({"prompt beyond context", "/v1/completions", "POST",
               m + "\"prompt\":\"" + long_prompt + "\"}"});
  v.push_back(
      {"max_tokens beyond context", "/v1/completions", "POST", with(R"("max_tokens":510)")});
  // Deep nesting, at the top and inside a field.
  v.push_back({"deep array", "/v1/completions", "POST",
               std::string(100000, '[') + std::string(100000, ']')});
  v.push_back({"deep field", "/v1/completions", "POST",
               with("\"x\":" + std::string(5000, '[') + std::string(5000, ']'))});
  v.push_back({"deep object", "/v1/chat/completions", "POST", [] {
                 std::string s;
                 for (int i = 0; i < 2000; ++i) s += "{\"a\":";
                 return s + "1" + std::string(2000, '}');
               }()});
  // Oversized bodies.
  v.push_back({"1.5 MiB body", "/v1/completions", "POST",
               with("\"pad\":\"" + std::string(3 << 19, 'x') + "\""), "application/json", 413});
  // Bodies that are not JSON, whatever the Content-Type says (any type is parsed as JSON).
  for (const char* ct :
       {"text/plain", "application/x-www-form-urlencoded", "application/xml", "json"}) {
    v.push_back({std::string("not JSON as ") + ct, "/v1/completions", "POST", "prompt=hi", ct});
  }
  // Routes and methods.
  v.push_back({"unknown route", "/v2/completions", "POST", with(""), "application/json", 404});
  v.push_back({"unknown GET", "/v1/nothing", "GET", "", "", 404});
  v.push_back({"GET completions", "/v1/completions", "GET", "", "", 405});
  v.push_back({"GET chat", "/v1/chat/completions", "GET", "", "", 405});
  v.push_back({"POST models", "/v1/models", "POST", "{}", "application/json", 405});
  v.push_back({"DELETE health", "/health", "DELETE", "", "", 405});
  v.push_back({"PUT completions", "/v1/completions", "PUT", with(""), "application/json", 405});
  return v;
}

httplib::Result send(httplib::Client& c, const Bad& b) {
  if (b.method == "GET") return c.Get(b.path.c_str());
  if (b.method == "DELETE") return c.Delete(b.path.c_str());
  if (b.method == "PUT") return c.Put(b.path.c_str(), b.body, b.content_type.c_str());
  return c.Post(b.path.c_str(), b.body, b.content_type.c_str());
}

void expect_openai_error(int status, const json& j, const std::string& what) {
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << ": " << j.dump();
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  EXPECT_TRUE(e["type"].is_string()) << what;
  EXPECT_TRUE(e.contains("param") && e.contains("code")) << what;
}

TEST(ServerHostile, TwoHundredBadRequestsGet4xxAndServingContinues) {
  auto s = serve_synth(2, 4);
  const auto bad = bad_requests();
  ASSERT_GE(bad.size(), 200u);
  const json valid = {{"model", synth_model_id()},
                      {"prompt", "still alive"},
                      {"max_tokens", 3},
                      {"temperature", 0}};
  std::string first_valid;
  for (size_t i = 0; i < bad.size(); ++i) {
    const Bad& b = bad[i];
    auto c = s->client();
    auto res = send(c, b);
    ASSERT_TRUE(res) << b.what << ": no response (" << httplib::to_string(res.error()) << ")";
    if (b.expect) {
      EXPECT_EQ(res->status, b.expect) << b.what << ": " << res->body;
    } else {
      EXPECT_TRUE(res->status >= 400 && res->status < 500) << b.what << ": " << res->status;
    }
    expect_openai_error(res->status, json::parse(res->body, nullptr, false), b.what);
    if (i % 10 == 0) {
      Reply ok = post(*s, "/v1/completions", valid);
      ASSERT_EQ(ok.status, 200) << "after " << b.what << ": " << ok.body;
      const std::string text = ok.j["choices"][0]["text"];
      if (first_valid.empty()) first_valid = text;
      EXPECT_EQ(text, first_valid) << "after " << b.what;
    }
  }
  EXPECT_EQ(s->backend->scheduler->stats().active, 0u);
}

TEST(ServerHostile, ContextErrorsGiveTheNumbers) {
  auto s = serve_synth(1, 1);
  Reply r = post(*s, "/v1/completions", with(R"("max_tokens":100000)"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.j["error"]["param"], "max_tokens");
  const std::string msg = r.j["error"]["message"];
  EXPECT_NE(msg.find("512"), std::string::npos) << msg;
  EXPECT_NE(msg.find("100000"), std::string::npos) << msg;
}

TEST(ServerHostile, RawHttpAbuse) {
  auto s = serve_synth(1, 1);
  const std::string target =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  // Chunked body past the limit: httplib does not cap chunked uploads, the server must.
  std::string chunked = target + "Transfer-Encoding: chunked\r\n\r\n";
  const std::string piece(64 * 1024, 'a');
  for (int i = 0; i < 20; ++i) chunked += "10000\r\n" + piece + "\r\n";
  chunked += "0\r\n\r\n";
  std::string r = raw_http(s->port, chunked);
  EXPECT_EQ(raw_status(r), 413) << r.substr(0, 200);
  EXPECT_TRUE(raw_json_body(r).contains("error"));
  // A POST without Content-Length would otherwise be read until the peer closes.
  r = raw_http(s->port, target + "\r\n" + with(""));
  EXPECT_EQ(raw_status(r), 411) << r.substr(0, 200);
  // Declared length beyond the limit (httplib skips the body, then answers).
  r = raw_http(s->port, target + "Content-Length: 2000000\r\n\r\n" + std::string(2000000, ' '));
  EXPECT_EQ(raw_status(r), 413) << r.substr(0, 200);
  // Multipart is not JSON and must not reach httplib's form parser: a clear 400.
  r = raw_http(s->port,
               "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
               "boundary=zz\r\n"
               "Content-Length: 61\r\n\r\n--zz\r\nContent-Disposition: form-data; "
               "name=\"a\"\r\n\r\nb\r\n--zz--\r\n");
  EXPECT_EQ(raw_status(r), 400) << r.substr(0, 200);
  EXPECT_NE(raw_json_body(r).dump().find("multipart"), std::string::npos) << r.substr(0, 300);
  // Garbage request lines get an error or a closed connection, never a crash.
  for (const char* g : {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "POST /v1/completions HTTP/9.9\r\n\r\n",
                        "\r\n\r\n\r\n"}) {
    r = raw_http(s->port, g);
    const int st = raw_status(r);
    EXPECT_TRUE(st == 0 || (st >= 400 && st < 500)) << g << " -> " << r.substr(0, 100);
  }
  // Still serving.
  Reply ok = post(*s, "/v1/completions", with(R"("max_tokens":2)"));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

}  // namespace
}  // namespace ll::server::testing
