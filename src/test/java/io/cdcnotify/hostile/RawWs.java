package io.cdcnotify.hostile;

import java.io.IOException;
import java.io.UncheckedIOException;

import io.cdcnotify.testing.RawWsClient;

/**
 * The attacker of the hostile suite: the tests' {@link RawWsClient} opened against a {@link ChildService}, with the
 * connection id of its {@code auth_ok} at hand for the service's log lines.
 */
final class RawWs extends RawWsClient {

    /** The connection id from {@code auth_ok}, once {@link #authenticated} has read it. */
    String connectionId;

    private RawWs(ChildService service, String key, int receiveBuffer) throws IOException {
        super(service.port(), "/v1/ws", bearer(key), receiveBuffer);
    }

    /**
     * Opens a WebSocket with the key in the header and reads the upgrade response.
     *
     * @param receiveBuffer the socket's receive buffer in bytes (0: the default); small for a client that
     *                      means not to read
     */
    static RawWs open(ChildService service, String key, int receiveBuffer) {
        try {
            return new RawWs(service, key, receiveBuffer);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Opens, then reads {@code auth_ok} and keeps its connection id in {@link #connectionId}. */
    static RawWs authenticated(ChildService service, String key, int receiveBuffer) {
        RawWs ws = open(service, key, receiveBuffer);
        ws.connectionId = ws.expectAuthOk().path("connection_id").asText();
        return ws;
    }
}
