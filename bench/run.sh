#!/usr/bin/env bash
# Runs one benchmark against a freshly started cdc-notify, on this machine:
#   1. raises the open-files limit (10,000 connections need 10,000+ descriptors on each side),
#   2. builds the service jar and the bench jar when they are missing (BUILD=1 forces a rebuild),
#   3. creates a fresh database (cdc_bench) and starts target/cdc-notify.jar against it,
#   4. waits for GET /health, runs the driver with the service's pid, URL, database and admin key,
#   5. stops the service (SIGTERM, then SIGKILL after 30 s) and drops nothing (the database is recreated next run).
#
# usage: bench/run.sh load|connections [driver options...]
#   INSTANCES=4 CDC_FANOUT=nats bench/run.sh load ...   several instances on one database (issue 16)
#   e.g. bench/run.sh load --ws 500 --sse 500 --tables 100 --rate 1000 --duration 30 --label w1
# environment:
#   CDC_LISTENER_MODE  notify (default) or poll
#   CDC_MAX_CONNECTIONS_PER_KEY, CDC_MAX_SUBSCRIPTIONS_PER_KEY
#                      the service's limits per API key; unset, the service's defaults apply (20,000 connections
#                      and 200,000 durable subscriptions per key); the second is passed as a system property
#   DOORBELL           on or off: whether cdc.outbox's NOTIFY trigger (outbox_doorbell) stays enabled; default on
#                      in notify mode, off in poll mode (docs/operations.md: a poll-only deployment drops it, and
#                      with it on, every writing transaction still pays the NOTIFY lock)
#   PORT               the service's port (default 18080); with INSTANCES=N, instance i listens on PORT+i
#   INSTANCES          how many instances to start on the one database (default 1); the driver spreads its
#                      clients over them (each table's clients rotate over the instances) and sums their CPU/RSS
#   CDC_FANOUT         database (default) or nats (relay mode; CDC_NATS_URL defaults to nats://127.0.0.1:4222).
#                      In relay mode each run gets a fresh stream (CDC_NATS_STREAM, default BENCH_<DB>_<time>) on
#                      subjects of its own (NATS_SUBJECT_PREFIX, default bench.<stream>), deleted at the end
#                      (bench/nats-stream.py) unless KEEP_STREAM=1
#   BENCH_DB           database name (default cdc_bench); PGHOST/PGPORT/PGUSER as for psql (127.0.0.1, 5432, postgres)
#   NICE               scheduling priority (nice value) of this run's processes: the service, the driver and this
#                      database's PostgreSQL backends (reniced every second), and with the kernel's autogroups
#                      this session's and PostgreSQL's groups (restored to 0 / their value at the end); default
#                      0. As root, NICE=-10 lets a run go first on a machine where others' builds keep running
#                      (docs/benchmarks.md, "Quiet-machine run")
#   SERVICE_OPTS       extra JVM options for the service, e.g. "-XX:StartFlightRecording=filename=bench/target/run/w1.jfr"
#   DRIVER_OPTS        JVM options for the driver (default "-XX:+UseZGC -Xms1g -Xmx4g": a G1 pause in the
#                      driver stops its writer and delays receipt, and showed up as 100-500 ms latency)
#   OUT                file each run's JSON line is appended to (default bench/target/results.jsonl)
#   BUILD              1 to rebuild both jars first
#   SERVICE_JAR        the service jar (default target/cdc-notify.jar; its libs/ must sit next to it): a copy lets
#                      runs go on while the worktree is rebuilt. The service is started by bin/cdc-notify, so it
#                      runs with the JVM flags a user gets (G1, -Xms32m, heap free ratios, MALLOC_ARENA_MAX=2)
#   BENCH_JAR          the driver jar (default bench/target/cdc-bench.jar; its lib/ must sit next to it): a copy
#                      lets a queue of runs go on while bench/ is rebuilt
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE_ARG=${1:?usage: bench/run.sh load|connections [driver options...]}
shift

if [[ -z "${JAVA_HOME:-}" || ! -x "$JAVA_HOME/bin/java" ]] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[1-9]|[3-9][0-9])'; then
    for j in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64; do
        if [[ -x "$j/bin/java" ]]; then export JAVA_HOME=$j; break; fi
    done
fi
JAVA="$JAVA_HOME/bin/java"
export PATH="$JAVA_HOME/bin:$PATH"

# 10,000 connections: one descriptor each in the driver and in the service, plus their files and pools
want=65536
# root may raise the hard limit too (20,000 here by default: too few for 20,000 connections plus the JVM's files)
ulimit -Hn "$want" 2>/dev/null || true
hard=$(ulimit -Hn)
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then want=$hard; fi
ulimit -n "$want" || true

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${BENCH_DB:-cdc_bench}
PORT=${PORT:-18080}
RUN_DIR="$ROOT/bench/target/run"
OUT=${OUT:-$ROOT/bench/target/results.jsonl}
mkdir -p "$RUN_DIR"

SERVICE_JAR=$(realpath "${SERVICE_JAR:-target/cdc-notify.jar}")
if [[ "${BUILD:-0}" == 1 || ! -f "$SERVICE_JAR" || ! -f "$HOME/.m2/repository/io/cdcnotify/cdc-notify/0.1.0-SNAPSHOT/cdc-notify-0.1.0-SNAPSHOT.jar" ]]; then
    ./mvnw -B -q -DskipTests -Dmaven.test.skip=true install
fi
BENCH_JAR=$(realpath "${BENCH_JAR:-bench/target/cdc-bench.jar}")
if [[ "${BUILD:-0}" == 1 || ! -f "$BENCH_JAR" ]]; then
    ./mvnw -B -q -f bench/pom.xml package
fi

psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

ADMIN_KEY="bench-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
INSTANCES=${INSTANCES:-1}
STAMP=$(date +%Y%m%d-%H%M%S)
FANOUT=${CDC_FANOUT:-database}
RELAY_OPTS=
if [[ $FANOUT == nats ]]; then
    # a fresh stream (and subjects that overlap no other stream) per run, deleted at the end
    export CDC_NATS_URL=${CDC_NATS_URL:-nats://127.0.0.1:4222}
    export CDC_NATS_STREAM=${CDC_NATS_STREAM:-BENCH_${DB^^}_${STAMP//-/_}}
    RELAY_OPTS="-Dcdc.fanout.subject-prefix=${NATS_SUBJECT_PREFIX:-bench.${CDC_NATS_STREAM,,}}"
fi
SERVICE_PIDS=()
URLS=()
NICE=${NICE:-0}
RENICE_PID=
PG_AUTOGROUP=

# instance i listens on PORT+i; all share the database (and in relay mode the stream)
start_instance() {
    local i=$1 port=$((PORT + $1))
    local log="$RUN_DIR/service-$STAMP-$i.log"
    # the service runs in its own folder, so no ./application.yaml changes what is measured
    (
        cd "$RUN_DIR"
        SERVER_PORT=$port \
        DB_URL="jdbc:postgresql://$PGHOST:$PGPORT/$DB" \
        DB_USER=$PGUSER \
        CDC_ADMIN_KEY=$ADMIN_KEY \
        CDC_LISTENER_MODE=${CDC_LISTENER_MODE:-notify} \
        CDC_NOTIFY_JAR=$SERVICE_JAR \
        JAVA_OPTS="${CDC_MAX_SUBSCRIPTIONS_PER_KEY:+-Dcdc.limits.max-subscriptions-per-key=$CDC_MAX_SUBSCRIPTIONS_PER_KEY} $RELAY_OPTS ${SERVICE_OPTS:-}" \
        exec nice -n "$NICE" "$ROOT/bin/cdc-notify"
    ) >"$log" 2>&1 &
    local pid=$!
    SERVICE_PIDS+=("$pid")
    URLS+=("http://127.0.0.1:$port")
    for n in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then echo "instance $i exited; see $log" >&2; exit 1; fi
        if [[ $n == 120 ]]; then echo "no /health from instance $i after 60 s; see $log" >&2; exit 1; fi
        sleep 0.5
    done
    echo "service pid $pid on port $port, log $log" >&2
}

stop_service() {
    local pid
    if [[ -n $RENICE_PID ]]; then kill "$RENICE_PID" 2>/dev/null || true; RENICE_PID=; fi
    if [[ -n $PG_AUTOGROUP ]]; then echo "${PG_AUTOGROUP_BEFORE:-0}" >"$PG_AUTOGROUP" 2>/dev/null || true; PG_AUTOGROUP=; fi
    if [[ $NICE != 0 && -w /proc/$$/autogroup ]]; then echo 0 >"/proc/$$/autogroup" 2>/dev/null || true; fi
    for pid in "${SERVICE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${SERVICE_PIDS[@]}"; do
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ $FANOUT == nats && -z "${KEEP_STREAM:-}" ]]; then
        python3 "$ROOT/bench/nats-stream.py" delete "$CDC_NATS_STREAM" "$CDC_NATS_URL" >&2 || true
    fi
    SERVICE_PIDS=()
    FANOUT=stopped
    return 0
}
trap stop_service EXIT

# one after the other: the first creates the schema (and in relay mode the stream)
for i in $(seq 0 $((INSTANCES - 1))); do
    start_instance "$i"
done
SERVICE_PID=$(IFS=,; echo "${SERVICE_PIDS[*]}")
SERVICE_URL=$(IFS=,; echo "${URLS[*]}")
PG_AUTOGROUP=
PG_AUTOGROUP_BEFORE=
if [[ $NICE != 0 ]]; then
    # With the kernel's autogroups (/proc/sys/kernel/sched_autogroup_enabled = 1) a nice value only ranks
    # processes inside one session: the sessions themselves share the CPU equally. So this session's group (the
    # service and the driver) and PostgreSQL's (all its processes, started by the postmaster) get NICE as well
    # (restored at the end), and inside PostgreSQL's group this run's backends get NICE (every second, so the
    # writer's connections opened later too).
    if [[ -w /proc/$$/autogroup ]]; then
        echo "$NICE" >"/proc/$$/autogroup" 2>/dev/null || true
        # every PostgreSQL process is in the postmaster's group: take the oldest
        PG_AUTOGROUP=/proc/$(pgrep -o -x postgres)/autogroup
        PG_AUTOGROUP_BEFORE=$(sed -n 's/.* nice \(-\{0,1\}[0-9]*\)/\1/p' "$PG_AUTOGROUP" 2>/dev/null)
        echo "$NICE" >"$PG_AUTOGROUP" 2>/dev/null || PG_AUTOGROUP=
    fi
    while :; do
        for pid in $(psql -XAtq -d postgres -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'"); do
            renice -n "$NICE" -p "$pid" >/dev/null 2>&1 || true
        done
        sleep 1
    done &
    RENICE_PID=$!
fi
MODE=${CDC_LISTENER_MODE:-notify}
export CDC_LISTENER_MODE=$MODE # the driver copies it into its report
DOORBELL=${DOORBELL:-$([[ $MODE == poll ]] && echo off || echo on)}
if [[ $DOORBELL == off ]]; then
    psql -q -d "$DB" -c "ALTER TABLE cdc.outbox DISABLE TRIGGER outbox_doorbell"
fi
export CDC_FANOUT=$FANOUT INSTANCES NICE # the driver copies them into its report
echo "$INSTANCES instance(s), pids $SERVICE_PID (listener $MODE, doorbell trigger $DOORBELL, fan-out $FANOUT${CDC_NATS_STREAM:+, stream $CDC_NATS_STREAM})" >&2

status=0
nice -n "$NICE" "$JAVA" ${DRIVER_OPTS:--XX:+UseZGC -Xms1g -Xmx4g} -jar "$BENCH_JAR" "$MODE_ARG" \
    --url "$SERVICE_URL" \
    --db "jdbc:postgresql://$PGHOST:$PGPORT/$DB" \
    --admin-key "$ADMIN_KEY" \
    --server-pid "$SERVICE_PID" \
    --out "$OUT" \
    "$@" || status=$?
stop_service
exit $status
