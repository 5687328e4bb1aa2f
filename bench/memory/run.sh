#!/usr/bin/env bash
# Issue 12's memory attacks against a service started here with a small heap: prints, once a second, the
# attacking connection's state (from /v1/state), the service's RSS, and its heap after a full GC (what is
# really held). The service runs with -XX:+ExitOnOutOfMemoryError, as bin/cdc-notify and the image run it.
# Usage: bench/memory/run.sh JAR ATTACK [SECONDS] [XMX]
#   ATTACK: ping-flood | json-ping-flood | slow-reader
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and JAVA_HOME pointing at a JDK 21+.
set -euo pipefail
JAR=$1; ATTACK=$2; SECONDS_=${3:-15}; XMX=${4:-256m}
PORT=18099; DBNAME=cdc_memory_bench; ADMIN=bench-admin-key-0123456789
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
JCMD=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/jcmd
PGJDBC=$(ls ~/.m2/repository/org/postgresql/postgresql/*/postgresql-*.jar | grep -v sources | tail -1)
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DBNAME" -c "CREATE DATABASE $DBNAME"
DB_URL=jdbc:postgresql://127.0.0.1:5432/$DBNAME CDC_ADMIN_KEY=$ADMIN SERVER_PORT=$PORT \
  "$JAVA" -Xmx$XMX -XX:+ExitOnOutOfMemoryError -jar "$JAR" > /tmp/memory-attack-service.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:$PORT/health > /dev/null; do sleep 0.5; done
# the live objects after a full GC, counted in the same safepoint (GC.class_histogram's Total). Not GC.run and then
# GC.heap_info: a JVM start apart, the second also counts what was allocated since the first (tens of MiB of
# garbage during a flood)
held() { "$JCMD" $PID GC.class_histogram | awk '$1 == "Total" { print int($3 / 1024) }'; }
rss() { grep VmRSS /proc/$PID/status | grep -oE '[0-9]+'; }
echo "before: heap_held_kb=$(held) rss_kb=$(rss)"
"$JAVA" -cp "$PGJDBC" "$(dirname "$0")/MemoryAttack.java" "$ATTACK" http://127.0.0.1:$PORT $ADMIN \
  jdbc:postgresql://127.0.0.1:5432/$DBNAME "$SECONDS_" | while read -r line; do
    if kill -0 $PID 2>/dev/null; then echo "$line heap_held_kb=$(held) rss_kb=$(rss)"; else echo "$line service DEAD"; fi
  done
grep -c OutOfMemoryError /tmp/memory-attack-service.log | sed 's/^/OutOfMemoryError lines in the log: /' || true
