#!/usr/bin/env bash
# LAN discovery end to end, never on a real network: a head and three workers, each in its own
# network namespace, joined by a bridge in a fifth namespace (veth pairs). Two workers advertise
# with the head's cluster key, a third with another key. `run --discover` must use exactly the
# two, and give the tokens that `run --workers` and single-device `generate` give.
# Usage: discovery_test.sh LINGUALINKED
# Exit 77 (skipped) without root or without `ip netns` (iproute2).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-}"
# shellcheck source=tests/e2e/lib.sh
source "$here/lib.sh"
[[ -x "$bin" ]] || skip "lingualinked binary not given or not executable ('$bin')"
[[ "$(id -u)" == 0 ]] || skip "network namespaces need root"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
tag="ll$$"
ip netns add "${tag}br" 2>/dev/null || skip "cannot create network namespaces here"

work="$(mktemp -d)"
pids=()
declare -A worker_pid
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in h w1 w2 w3 br; do ip netns del "${tag}$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The bridge floods multicast (no snooping), like a small LAN switch.
ip -n "${tag}br" link add br0 type bridge mcast_snooping 0
ip -n "${tag}br" link set br0 up
i=1
for n in h w1 w2 w3; do
  ns="${tag}$n"
  ip netns add "$ns"
  ip link add "v$tag$i" type veth peer name "b$tag$i"
  ip link set "v$tag$i" netns "$ns"
  ip link set "b$tag$i" netns "${tag}br"
  ip -n "${tag}br" link set "b$tag$i" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.77.0.$i/24" dev "v$tag$i"
  ip -n "$ns" link set "v$tag$i" up
  ip -n "$ns" route add 224.0.0.0/4 dev "v$tag$i"
  i=$((i + 1))
done

"$bin" synth --preset tiny --type Q8_0 -o "$work/m.gguf" >/dev/null
"$bin" keygen -o "$work/a.key" >/dev/null
"$bin" keygen -o "$work/b.key" >/dev/null
start_worker() {  # NS NAME KEY
  ip netns exec "${tag}$1" "$bin" worker --listen tcp://0.0.0.0:5555 --name "$2" --key "$3" \
    --advertise --cache-dir "$work/cache-$2" --ready-file "$work/ready-$2" 2>"$work/$2.log" &
  pids+=($!)
  worker_pid[$2]=$!
}
start_worker w1 alpha "$work/a.key"
start_worker w2 beta "$work/a.key"
start_worker w3 gamma "$work/b.key"
# A worker writes its ready file after it has advertised (or warned that it could not).
for w in alpha beta gamma; do
  wait_ready "$work/ready-$w" "${worker_pid[$w]}" 30 >/dev/null && grep -q "advertised" "$work/$w.log" &&
    pass "worker $w advertises" || fail "worker $w: $(cat "$work/$w.log")"
done

head=(ip netns exec "${tag}h" "$bin")
args=(-m "$work/m.gguf" --key "$work/a.key" --prompt-ids 1,5,9 -n 16 --temp 0 --json --cuts 12,24)
"${head[@]}" run --discover=3 "${args[@]}" --cache-dir "$work/head1" >"$work/discover.json" 2>"$work/discover.log" ||
  fail "run --discover: $(tail -5 "$work/discover.log")"
grep -q "^discovered worker alpha at tcp://10.77.0.2:5555" "$work/discover.log" && pass "alpha discovered" || fail "alpha: $(cat "$work/discover.log")"
grep -q "^discovered worker beta at tcp://10.77.0.3:5555" "$work/discover.log" && pass "beta discovered" || fail "beta: $(cat "$work/discover.log")"
grep -q "^ignored worker gamma .*another cluster key" "$work/discover.log" && pass "gamma (other key) ignored" || fail "gamma: $(cat "$work/discover.log")"
[[ "$(grep -c '^discovered' "$work/discover.log")" == 2 ]] && pass "exactly two workers used" || fail "discovered: $(grep '^discovered' "$work/discover.log")"

"${head[@]}" run --workers 10.77.0.2:5555,10.77.0.3:5555 "${args[@]}" --cache-dir "$work/head2" \
  >"$work/workers.json" 2>"$work/workers.log" || fail "run --workers: $(tail -5 "$work/workers.log")"
"$bin" generate -m "$work/m.gguf" --prompt-ids 1,5,9 -n 16 --temp 0 --json >"$work/generate.json"
tokens() { node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tokens))' "$1" 2>/dev/null || python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"])' "$1"; }
d="$(tokens "$work/discover.json")"
w="$(tokens "$work/workers.json")"
g="$(tokens "$work/generate.json")"
[[ -n "$d" && "$d" == "$w" ]] && pass "--discover gives the tokens of --workers ($d)" || fail "discover $d != workers $w"
[[ "$d" == "$g" ]] && pass "and of single-device generate" || fail "discover $d != generate $g"

# serve --discover: the same two workers behind the HTTP API, the same greedy text.
started=0
start_server "$work/serve.log" "${head[@]}" serve -m "$work/m.gguf" --key "$work/a.key" \
  --discover=3 --ctx 256 --cache-dir "$work/head3" && started=1
pids+=("$server_pid")
if ((started)); then
  [[ "$(grep -c '^discovered' "$work/serve.log")" == 2 ]] && pass "serve --discover uses the two workers" ||
    fail "serve discovered: $(grep 'discovered\|ignored' "$work/serve.log")"
  ip netns exec "${tag}h" curl -sS "$base/v1/completions" \
    -d '{"prompt":[1,5,9],"max_tokens":16,"temperature":0}' >"$work/serve.json" || true
  st="$(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).choices[0].text))' "$work/serve.json" 2>/dev/null || echo none)"
  rt="$(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).text))' "$work/discover.json" 2>/dev/null || echo other)"
  [[ "$st" == "$rt" ]] && pass "serve --discover answers run's greedy text" || fail "serve text $st != run text $rt"
else
  fail "serve --discover did not start"
fi

if ((failures)); then
  for f in "$work"/*.log; do echo "--- $f"; tail -n 5 "$f"; done
  echo "$failures check(s) failed"
  exit 1
fi
echo "discovery: all checks passed"
