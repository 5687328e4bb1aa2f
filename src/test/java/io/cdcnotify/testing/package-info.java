/**
 * The test kit: one of each thing a test of the running service needs.
 *
 * <ul>
 *   <li>{@link io.cdcnotify.testing.TestDatabase}: a database per test class on the local PostgreSQL.</li>
 *   <li>{@link io.cdcnotify.testing.CdcServer}: the service wired by {@code Main.setup} on a random port, with a
 *       virtual-thread pinning check; {@code setUp}/{@code of} for tests on Helidon's {@code @ServerTest}.</li>
 *   <li>{@link io.cdcnotify.testing.CdcFixture}: database + server(s) awaited until ready + key + outbox writer, as
 *       one JUnit extension (the {@code it/} tests).</li>
 *   <li>{@link io.cdcnotify.testing.WsTestClient}: the well-behaved WebSocket client (JDK); ends by abort or, with
 *       {@code closingCleanly()}, with a close frame.</li>
 *   <li>{@link io.cdcnotify.testing.RawWsClient}: the WebSocket client for protocol abuse and stuck readers, frame
 *       by frame over a plain socket.</li>
 *   <li>{@link io.cdcnotify.testing.SseTestClient}: the SSE client, parsed events and exact bytes at once; slow
 *       ({@code pause}) or stuck ({@code stuck}) readers.</li>
 *   <li>{@link io.cdcnotify.testing.Api}, {@link io.cdcnotify.testing.Outbox}, {@link io.cdcnotify.testing.Listener}:
 *       REST calls, outbox rows written as applications do, the LISTEN backend.</li>
 * </ul>
 */
package io.cdcnotify.testing;
