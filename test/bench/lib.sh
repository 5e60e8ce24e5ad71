# Shared by the benchmark scripts (run.sh, fairness.sh); they define log() before sourcing this.

# wait_http URL PID [TRIES]: until URL answers (every 0.1 s, TRIES times, default 300), or the server PID exits.
wait_http() {
  for _ in $(seq "${3:-300}"); do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { log "server for $1 exited"; return 1; }
    sleep 0.1
  done
  log "$1 did not come up"; return 1
}
