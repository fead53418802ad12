#!/usr/bin/env bash
# End to end: `lingualinked serve` on a free port with a real model, then curl and the official
# `openai` npm client (openai_client.mjs) against it; the server must keep serving and stop
# cleanly on SIGTERM.
# Usage: serve_clients.sh LINGUALINKED [MODEL.gguf | synth | @shared/REL SHARED_DIR]
# `synth` makes a synthetic model (random weights, real tokenizer): no ../shared needed.
# `@shared/REL` is REL under $LL_SHARED_DIR when set (as tests/shared_dir.h), else SHARED_DIR.
# Exit 77 (skipped) when the model, node, curl or node_modules/openai is missing;
# install the client with: npm ci --prefix tests/e2e
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-}"
model="${2:-$here/../../../shared/models/stories260K.gguf}"
if [[ "$model" == @shared/* ]]; then model="${LL_SHARED_DIR:-${3:-}}/${model#@shared/}"; fi

# shellcheck source=tests/e2e/lib.sh
source "$here/lib.sh"
[[ -x "$bin" ]] || skip "lingualinked binary not given or not executable ('$bin')"
"$bin" serve --help >/dev/null 2>&1 || skip "$bin has no 'serve' subcommand (built without src/server)"
[[ "$model" == synth || -f "$model" ]] || skip "model $model not found (../shared is missing; models are not in the repo)"
command -v node >/dev/null || skip "node is not installed"
command -v curl >/dev/null || skip "curl is not installed"
[[ -f "$here/node_modules/openai/package.json" ]] || skip "node_modules/openai is not installed (run: npm ci --prefix tests/e2e)"

work="$(mktemp -d)"
if [[ "$model" == synth ]]; then
  model="$work/synth-tiny.gguf"
  "$bin" synth --preset tiny --type Q8_0 -o "$model" >/dev/null
fi
key="e2e-key-$$-$RANDOM"
server_pid=""
cleanup() {
  stop_server KILL  # the clean SIGTERM stop is a check of its own below
  rm -rf "$work"
}
trap cleanup EXIT

# --port 0 (start_server): the kernel picks a free port and the server writes its URL.
start_server "$work/server.log" "$bin" serve -m "$model" --n-devices 2 --api-key "$key" \
  --max-seqs 4 --ctx 256 || {
  echo "FAIL server did not start"
  exit 1
}
model_id="$(basename "$model" .gguf)"
echo "server on $base, model $model_id"

# http METHOD PATH [BODY] [extra curl args...] -> prints the status; body in $work/body
http() {
  local method="$1" path="$2" body="${3:-}"
  shift 3 || shift $#
  local args=(-sS -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $key")
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  curl "${args[@]}" "$@" "$base$path"
}

# json_get FILE EXPR: evaluates a JavaScript expression over the parsed JSON `j`.
json_get() { node -e 'const fs=require("fs"); const j=JSON.parse(fs.readFileSync(process.argv[1],"utf8")); console.log(eval(process.argv[2]))' "$1" "$2"; }

expect_status() {
  local want="$1" got="$2" what="$3"
  if [[ "$got" == "$want" ]]; then pass "$what ($got)"; else fail "$what: want $want, got $got: $(head -c 300 "$work/body")"; fi
}

# --- plain endpoints
curl -sS "$base/health" | python3 -c 'import json, sys; j = json.load(sys.stdin); sys.exit(j["status"] != "ok" or any(d["state"] == "lost" for d in j.get("devices", [])))' && pass "health" || fail "health"
expect_status 401 "$(curl -sS -o "$work/body" -w '%{http_code}' "$base/v1/models")" "models without key"
expect_status 200 "$(http GET /v1/models)" "models"
[[ "$(json_get "$work/body" 'j.data[0].id')" == "$model_id" ]] && pass "model id" || fail "model id"

# --- completions: non-streamed, then streamed must concatenate to the same text
req='{"model":"'"$model_id"'","prompt":"Once upon a time","max_tokens":24,"temperature":0}'
expect_status 200 "$(http POST /v1/completions "$req")" "completion"
cp "$work/body" "$work/completion.json"
text="$(json_get "$work/completion.json" 'JSON.stringify(j.choices[0].text)')"
[[ "$text" != '""' ]] && pass "completion text $text" || fail "completion text is empty"

sreq='{"model":"'"$model_id"'","prompt":"Once upon a time","max_tokens":24,"temperature":0,"stream":true}'
expect_status 200 "$(http POST /v1/completions "$sreq" -N)" "streamed completion"
stext="$(node -e '
  const body = require("fs").readFileSync(process.argv[1], "utf8");
  const events = body.split("\n\n").filter((e) => e && !e.startsWith(":"));
  if (events.pop() !== "data: [DONE]") throw new Error("no [DONE] at the end");
  let t = "";
  for (const e of events) {
    if (!e.startsWith("data: ")) throw new Error("not an SSE data line: " + e);
    const c = JSON.parse(e.slice(6)).choices[0];
    t += c.text;
  }
  console.log(JSON.stringify(t));' "$work/body" 2>&1)" || true
[[ "$stext" == "$text" ]] && pass "stream equals non-stream" || fail "stream $stext != $text"

# --- chat
creq='{"model":"'"$model_id"'","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":16,"temperature":0}'
expect_status 200 "$(http POST /v1/chat/completions "$creq")" "chat"
[[ "$(json_get "$work/body" 'j.choices[0].message.role')" == "assistant" ]] && pass "chat role" || fail "chat role"
csreq='{"model":"'"$model_id"'","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":16,"temperature":0,"stream":true}'
expect_status 200 "$(http POST /v1/chat/completions "$csreq" -N)" "streamed chat"
grep -q '"object":"chat.completion.chunk"' "$work/body" && tail -c 14 "$work/body" | grep -q 'data: \[DONE\]' \
  && pass "chat stream format" || fail "chat stream format: $(tail -c 300 "$work/body")"

# --- errors keep the OpenAI format, and the server keeps serving
expect_status 400 "$(http POST /v1/completions '{"model":"'"$model_id"'","prompt":"x","max_tokens":"many"}')" "bad max_tokens"
[[ "$(json_get "$work/body" 'j.error.param')" == "max_tokens" ]] && pass "error names max_tokens" || fail "error param"
expect_status 400 "$(http POST /v1/completions '{"model":"'"$model_id"'","prompt":"x","max_tokens":100000}')" "max_tokens beyond the context"
grep -q '256' "$work/body" && pass "context error gives the numbers" || fail "context error: $(cat "$work/body")"
# --- leniency as llama-server: no Content-Type (curl -d sends form-urlencoded), any or no model
expect_status 200 "$(curl -sS -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $key" \
  "$base/v1/completions" -d '{"prompt":"Once","max_tokens":8}')" "curl -d without Content-Type or model"
[[ "$(json_get "$work/body" 'j.model')" == "$model_id" ]] && pass "served id echoed" || fail "model: $(cat "$work/body")"
expect_status 200 "$(curl -sS -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $key" \
  "$base/v1/completions" -d '{"model":"gpt-4o","prompt":"Once","max_tokens":8}')" "curl -d with model gpt-4o"
[[ "$(json_get "$work/body" 'j.model')" == "$model_id" ]] && pass "served id echoed for gpt-4o" || fail "model: $(cat "$work/body")"
expect_status 400 "$(curl -sS -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $key" \
  "$base/v1/completions" -d 'prompt=Once')" "a form body is not JSON"
expect_status 400 "$(http POST /v1/completions '{"model":')" "bad json"
expect_status 405 "$(http GET /v1/completions)" "wrong method"
expect_status 404 "$(http GET /v1/nothing)" "unknown route"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$work/big"
expect_status 413 "$(http POST /v1/completions "" -H 'Content-Type: application/json' --data-binary @"$work/big")" "2 MiB body"
expect_status 200 "$(http GET /metrics)" "metrics"
grep -q '^ll_requests_total ' "$work/body" && pass "metrics has ll_requests_total" || fail "metrics content"

# --- the official client
if LL_BASE_URL="$base/v1" LL_MODEL="$model_id" LL_API_KEY="$key" node "$here/openai_client.mjs"; then
  pass "openai npm client"
else
  fail "openai npm client"
fi
expect_status 200 "$(http GET /health)" "still serving"

# --- clean shutdown on SIGTERM
kill -TERM "$server_pid"
rc=0
wait_exit "$server_pid" 10 || rc=$?
if ((rc == 124)); then
  fail "server still running 10 s after SIGTERM"
elif ((rc)); then
  fail "server exit status $rc"
else
  pass "server exited cleanly"
fi
((rc == 124)) || server_pid=""

if ((failures)); then
  echo "--- server log"
  tail -n 40 "$work/server.log"
  echo "$failures check(s) failed"
  exit 1
fi
echo "serve_clients: all checks passed"
