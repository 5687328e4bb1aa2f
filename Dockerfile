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

FROM eclipse-temurin:21-jre
RUN useradd --system --uid 10001 --home-dir /app cdc
WORKDIR /app
COPY --from=build /src/target/cdc-notify.jar ./cdc-notify.jar
COPY --from=build /src/target/libs ./libs
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q 200"]
# Heap: 75 % of the container's memory limit; ZGC keeps pauses short with many connections (docs/operations.md).
ENV JAVA_OPTS="-XX:+UseZGC -XX:MaxRAMPercentage=75"
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar cdc-notify.jar \"$@\"", "cdc-notify"]
