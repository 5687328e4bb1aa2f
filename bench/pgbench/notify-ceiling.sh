#!/usr/bin/env bash
# The PostgreSQL NOTIFY ceiling (docs/design/delivery.md, "Past the NOTIFY ceiling"): how many single-row
# outbox transactions per second PostgreSQL commits with the service's doorbell trigger and without it.
# A scratch database (cdc_pgbench) gets the service's real schema by starting the service against it once.
# Four cases, each for every client count in CLIENTS, DURATION seconds each, the outbox emptied between:
#   notify+service   trigger on, the service LISTENing and reading (the normal setup)
#   notify           trigger on, nobody listening
#   no-trigger       ALTER TABLE cdc.outbox DISABLE TRIGGER outbox_doorbell
#   poll+service     trigger off, the service in CDC_LISTENER_MODE=poll reading every 5 ms
# SYNC_COMMIT=off runs pgbench's sessions with synchronous_commit=off: no WAL flush wait at commit, so what is
# left is CPU and locks (the NOTIFY queue lock among them), not the disk's fsync time, which on a virtual disk
# varies from 0.1 to several ms.
# SCRIPT=bench/pgbench/outbox-insert-b10.sql writes ten rows per transaction instead (events/s = 10 × tps).
# usage: bench/pgbench/notify-ceiling.sh            (CLIENTS="4 8" DURATION=20 SYNC_COMMIT=on by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
for j in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64; do
    if [[ -n "$j" && -x "$j/bin/java" ]]; then JAVA="$j/bin/java"; break; fi
done
PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${PGBENCH_DB:-cdc_pgbench}
PORT=${PORT:-18081}
CLIENTS=${CLIENTS:-"4 8"}
SYNC_COMMIT=${SYNC_COMMIT:-on}
DURATION=${DURATION:-20}
SCRIPT=${SCRIPT:-bench/pgbench/outbox-insert.sql}
RUN_DIR="$ROOT/bench/target/run"
mkdir -p "$RUN_DIR"
[[ -f target/cdc-notify.jar ]] || ./mvnw -B -q -DskipTests -Dmaven.test.skip=true package

SERVICE_PID=
start_service() { # $1 = listener mode
    (cd "$RUN_DIR" && SERVER_PORT=$PORT DB_URL="jdbc:postgresql://$PGHOST:$PGPORT/$DB" DB_USER=$PGUSER \
        CDC_ADMIN_KEY=pgbench-admin CDC_LISTENER_MODE=$1 exec "$JAVA" -jar "$ROOT/target/cdc-notify.jar") \
        >"$RUN_DIR/pgbench-service-$1.log" 2>&1 &
    SERVICE_PID=$!
    for _ in $(seq 1 120); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "service did not start" >&2; exit 1
}
stop_service() {
    if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill -TERM "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null || true
    fi
    SERVICE_PID=
}
trap stop_service EXIT

run_case() { # $1 = case name
    for c in $CLIENTS; do
        psql -q -d "$DB" -c "TRUNCATE cdc.outbox" -c "CHECKPOINT"
        out=$(PGOPTIONS="-c synchronous_commit=$SYNC_COMMIT" "$PGBENCH" -n -M prepared -f "$SCRIPT" -c "$c" -j 2 -T "$DURATION" "$DB" 2>&1)
        tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
        lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
        printf '%-16s clients %2s  tps %9s  latency avg %6s ms\n' "$1" "$c" "$tps" "$lat"
    done
}

psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
echo "PostgreSQL $(psql -Atc 'show server_version'), synchronous_commit=$SYNC_COMMIT (server default $(psql -Atc 'show synchronous_commit')), fsync=$(psql -Atc 'show fsync'), $(nproc) cores, ${DURATION} s per run, $SCRIPT"
start_service notify                 # creates the schema, then listens
run_case notify+service
stop_service
run_case notify
psql -q -d "$DB" -c "ALTER TABLE cdc.outbox DISABLE TRIGGER outbox_doorbell"
run_case no-trigger
start_service poll
run_case poll+service
stop_service
