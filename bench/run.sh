#!/usr/bin/env bash
# Runs one benchmark against a freshly started cdc-notify, on this machine:
#   1. raises the open-files limit (10,000 connections need 10,000+ descriptors on each side),
#   2. builds the service jar and the bench jar when they are missing (BUILD=1 forces a rebuild),
#   3. creates a fresh database (cdc_bench) and starts target/cdc-notify.jar against it,
#   4. waits for GET /health, runs the driver with the service's pid, URL, database and admin key,
#   5. stops the service (SIGTERM, then SIGKILL after 30 s) and drops nothing (the database is recreated next run).
#
# usage: bench/run.sh load|connections [driver options...]
#   e.g. bench/run.sh load --ws 500 --sse 500 --tables 100 --rate 1000 --duration 30 --label w1
# environment:
#   CDC_LISTENER_MODE  notify (default) or poll
#   CDC_MAX_CONNECTIONS_PER_KEY, CDC_MAX_SUBSCRIPTIONS_PER_KEY
#                      the service's limits per API key (default here 20000 each: every client of a run shares one
#                      key, and each WebSocket subscription is durable, so the service's default of 1,000 durable
#                      subscriptions per key would refuse clients; the second is passed as a system property)
#   DOORBELL           on or off: whether cdc.outbox's NOTIFY trigger (outbox_doorbell) stays enabled; default on
#                      in notify mode, off in poll mode (docs/operations.md: a poll-only deployment drops it, and
#                      with it on, every writing transaction still pays the NOTIFY lock)
#   PORT               the service's port (default 18080)
#   BENCH_DB           database name (default cdc_bench); PGHOST/PGPORT/PGUSER as for psql (127.0.0.1, 5432, postgres)
#   SERVICE_OPTS       extra JVM options for the service, e.g. "-XX:StartFlightRecording=filename=bench/target/run/w1.jfr"
#   DRIVER_OPTS        JVM options for the driver (default "-XX:+UseZGC -Xms1g -Xmx4g": a G1 pause in the
#                      driver stops its writer and delays receipt, and showed up as 100-500 ms latency)
#   OUT                file each run's JSON line is appended to (default bench/target/results.jsonl)
#   BUILD              1 to rebuild both jars first
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
hard=$(ulimit -Hn)
want=65536
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then want=$hard; fi
ulimit -n "$want" || true

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${BENCH_DB:-cdc_bench}
PORT=${PORT:-18080}
RUN_DIR="$ROOT/bench/target/run"
OUT=${OUT:-$ROOT/bench/target/results.jsonl}
mkdir -p "$RUN_DIR"

if [[ "${BUILD:-0}" == 1 || ! -f target/cdc-notify.jar || ! -f "$HOME/.m2/repository/io/cdcnotify/cdc-notify/0.1.0-SNAPSHOT/cdc-notify-0.1.0-SNAPSHOT.jar" ]]; then
    ./mvnw -B -q -DskipTests -Dmaven.test.skip=true install
fi
if [[ "${BUILD:-0}" == 1 || ! -f bench/target/cdc-bench.jar ]]; then
    ./mvnw -B -q -f bench/pom.xml package
fi

psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

ADMIN_KEY="bench-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
LOG="$RUN_DIR/service-$(date +%Y%m%d-%H%M%S).log"
# the service runs in its own folder, so no ./application.yaml changes what is measured
(
    cd "$RUN_DIR"
    SERVER_PORT=$PORT \
    DB_URL="jdbc:postgresql://$PGHOST:$PGPORT/$DB" \
    DB_USER=$PGUSER \
    CDC_ADMIN_KEY=$ADMIN_KEY \
    CDC_MAX_CONNECTIONS_PER_KEY=${CDC_MAX_CONNECTIONS_PER_KEY:-20000} \
    CDC_LISTENER_MODE=${CDC_LISTENER_MODE:-notify} \
    exec "$JAVA" -Dcdc.limits.max-subscriptions-per-key=${CDC_MAX_SUBSCRIPTIONS_PER_KEY:-20000} ${SERVICE_OPTS:-} \
        -jar "$ROOT/target/cdc-notify.jar"
) >"$LOG" 2>&1 &
SERVICE_PID=$!

stop_service() {
    if kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill -TERM "$SERVICE_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$SERVICE_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$SERVICE_PID" 2>/dev/null || true
    fi
}
trap stop_service EXIT

for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVICE_PID" 2>/dev/null; then echo "the service exited; see $LOG" >&2; exit 1; fi
    if [[ $i == 120 ]]; then echo "no /health after 60 s; see $LOG" >&2; exit 1; fi
    sleep 0.5
done
MODE=${CDC_LISTENER_MODE:-notify}
export CDC_LISTENER_MODE=$MODE # the driver copies it into its report
DOORBELL=${DOORBELL:-$([[ $MODE == poll ]] && echo off || echo on)}
if [[ $DOORBELL == off ]]; then
    psql -q -d "$DB" -c "ALTER TABLE cdc.outbox DISABLE TRIGGER outbox_doorbell"
fi
echo "service pid $SERVICE_PID on port $PORT (listener $MODE, doorbell trigger $DOORBELL), log $LOG" >&2

status=0
"$JAVA" ${DRIVER_OPTS:--XX:+UseZGC -Xms1g -Xmx4g} -jar "${BENCH_JAR:-bench/target/cdc-bench.jar}" "$MODE_ARG" \
    --url "http://127.0.0.1:$PORT" \
    --db "jdbc:postgresql://$PGHOST:$PGPORT/$DB" \
    --admin-key "$ADMIN_KEY" \
    --server-pid "$SERVICE_PID" \
    --out "$OUT" \
    "$@" || status=$?
stop_service
exit $status
