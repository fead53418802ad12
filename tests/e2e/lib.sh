# Shared by the e2e scripts (source it): skipping, and starting `lingualinked serve` and waiting
# for processes on explicit signals with deadlines, never by polling a port or a log.
# The sourcing script sets `bin` (the lingualinked binary) and `work` (its temp dir).

skip() {
  echo "SKIPPED: $*"
  exit 77
}

failures=0
pass() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}

# wait_ready FILE PID [SECONDS]: prints FILE's first line once it is written (a --ready-file);
# fails at once when PID exits first, else at the deadline (default 60 s).
wait_ready() {
  "$bin" wait-ready --file "$1" --pid "$2" --timeout "${3:-60}"
}

# start_server LOG COMMAND...: runs COMMAND (ending in `serve ...`) with --port 0 and a ready
# file in the background; sets server_pid, and base to the URL the server wrote once it accepts
# requests. Returns 1, with the end of LOG, if it does not get there.
start_server() {
  local log="$1"
  shift
  rm -f "$work/serve.ready"
  "$@" --port 0 --ready-file "$work/serve.ready" >"$log" 2>&1 &
  server_pid=$!
  if ! base="$(wait_ready "$work/serve.ready" "$server_pid" 60)"; then
    tail -n 40 "$log"
    return 1
  fi
}

# stop_server SIGNAL: sends SIGNAL to a server start_server left running and reaps it (for the
# scripts' EXIT traps).
stop_server() {
  if [[ -n "${server_pid:-}" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "-$1" "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}

# wait_exit PID SECONDS: waits (`wait`) for PID, a child of this shell, to exit; returns its exit
# status, or 124 when it still runs after SECONDS. The sleep is the deadline's timer, not a poll.
wait_exit() {
  local pid="$1" timer done rc=0
  sleep "$2" >/dev/null 2>&1 &
  timer=$!
  wait -n -p done "$pid" "$timer" || rc=$?
  if [[ "$done" == "$timer" ]]; then
    return 124
  fi
  kill "$timer" 2>/dev/null || true
  wait "$timer" 2>/dev/null || true
  return "$rc"
}
