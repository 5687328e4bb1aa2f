# cdc-notify: build with the Maven Wrapper on a JDK, run on a JRE as a non-root user.
#   docker build -t cdc-notify .
#   docker run -p 8080:8080 -e DB_URL=jdbc:postgresql://db:5432/postgres -e CDC_ADMIN_KEY=... cdc-notify
FROM eclipse-temurin:21-jdk AS build
WORKDIR /src
COPY .mvn .mvn
COPY mvnw pom.xml ./
RUN ./mvnw -B -q dependency:go-offline
COPY src src
COPY clients clients
COPY application.yaml ./
RUN ./mvnw -B -q -DskipTests package

# Java 25 to run (the code is Java 21): its 8-byte object headers take ~1 kB off each idle connection
FROM eclipse-temurin:25-jre
RUN useradd --system --uid 10001 --home-dir /app cdc
WORKDIR /app
COPY --from=build /src/target/cdc-notify.jar ./cdc-notify.jar
COPY --from=build /src/target/libs ./libs
USER 10001
EXPOSE 8080
# The image has neither curl nor a shell that opens sockets (dash), so the jar asks itself: `health` GETs
# /health on 127.0.0.1 at SERVER_PORT (default 8080) and exits 0 only on 200. A small heap, no JIT to speak of:
# it is a probe. (HealthcheckTest runs this line under dash against a running service.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD java -Xmx64m -XX:TieredStopAtLevel=1 -jar /app/cdc-notify.jar health
# Heap: 75 % of the container's memory limit. G1 gives heap back once more than 5 % of it is free after a
# collection, glibc keeps two malloc arenas, the JVM hands glibc's freed memory back every 5 s, and objects have
# 8-byte headers: the resident memory stays near the live heap (~15-21 kB per idle connection,
# docs/benchmarks.md "Memory per connection", "Session 8 runs"; ZGC took 53 kB). An out-of-memory ends the
# process, so that the container restarts instead of running on without a thread it needs.
ENV MALLOC_ARENA_MAX=2
ENV JAVA_OPTS="-XX:+UseG1GC -XX:MaxRAMPercentage=75 -XX:MinHeapFreeRatio=5 -XX:MaxHeapFreeRatio=5 -XX:G1PeriodicGCInterval=10000 -XX:TrimNativeHeapInterval=5000 -XX:+UseCompactObjectHeaders -XX:+ExitOnOutOfMemoryError"
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar cdc-notify.jar \"$@\"", "cdc-notify"]
