#!/usr/bin/env bash
# Memory per connection (issue 15, point 2): runs `bench/run.sh connections` with N idle SSE clients and the
# service under Native Memory Tracking, and snapshots the service at 0, N/2 and N open connections:
# VmRSS, `jcmd VM.native_memory summary` and `jcmd GC.heap_info` into bench/target/memory/<label>-<n>.txt,
# and one summary line per snapshot to stdout.
# usage: JVM_FLAGS="-XX:+UseSerialGC ..." bench/memory-per-connection.sh <label> [N (10000)] [hold seconds (40)]
set -euo pipefail
cd "$(dirname "$0")/.."
LABEL=${1:?label}; N=${2:-10000}; HOLD=${3:-40}
export PORT=${PORT:-18391} BENCH_DB=${BENCH_DB:-cdc_bench_mem}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
DIR=bench/target/memory; mkdir -p "$DIR"
export SERVICE_OPTS="-XX:NativeMemoryTracking=summary ${JVM_FLAGS:-}"

bench/run.sh connections --ws 0 --sse "$N" --tables 100 --duration "$HOLD" --connect-timeout 300 --label "mem-$LABEL" \
    >"$DIR/$LABEL.driver.log" 2>&1 &
RUN=$!
pid=
for _ in $(seq 1 600); do
    pid=$(sed -n 's/^service pid \([0-9]*\) .*/\1/p' "$DIR/$LABEL.driver.log" | head -n 1)
    [[ -n $pid ]] && break
    sleep 0.5
done
[[ -n $pid ]] || { echo "no service pid; see $DIR/$LABEL.driver.log" >&2; exit 1; }
open() { ss -Htn state established "( sport = :$PORT )" | wc -l; }
snap() {  # $1 = name
    local f="$DIR/$LABEL-$1.txt" rss
    "$JAVA_HOME/bin/jcmd" "$pid" GC.run >/dev/null   # a live-heap figure, as the driver's; RSS after it
    sleep 2
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    { echo "label=$LABEL point=$1 open=$(open) rss_kb=$rss uptime: $(uptime)"
      "$JAVA_HOME/bin/jcmd" "$pid" GC.heap_info
      "$JAVA_HOME/bin/jcmd" "$pid" VM.native_memory summary; } >"$f"
    printf '%s open=%s rss=%sMB nmt_committed=%s\n' "$1" "$(open)" "$((rss / 1024))" \
        "$(grep -m1 'Total: reserved' "$f" | sed 's/.*committed=//')"
}
until curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do sleep 0.2; done; snap 0
half=$((N / 2))
until [[ $(open) -ge $half ]]; do kill -0 $RUN 2>/dev/null || break; sleep 0.5; done
snap "$half"
until [[ $(open) -ge $N ]]; do kill -0 $RUN 2>/dev/null || break; sleep 0.5; done
sleep 8; snap "$N"
wait $RUN || true
tail -n 3 "$DIR/$LABEL.driver.log"
