package io.cdcnotify.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Clients that send part of an HTTP request and then nothing, on plain sockets, until they go away: with a FIN
 * ({@link #close()}), or every other one with a reset ({@link #closeEveryOtherWithReset()}), as clients that crash
 * or lose their network do. What a server must survive without a thread, a file descriptor or a log line per
 * socket.
 */
public final class HalfRequests implements AutoCloseable {

    private final List<Socket> sockets = new ArrayList<>();

    private HalfRequests() {
    }

    /**
     * Opens {@code count} connections to {@code port}; the i-th sends {@code halves.get(i % halves.size())}, as it
     * is, and nothing more.
     */
    public static HalfRequests send(int port, int count, List<String> halves) throws IOException {
        HalfRequests half = new HalfRequests();
        try {
            for (int i = 0; i < count; i++) {
                Socket s = RawHttp.connect("127.0.0.1", port, 0, RawWsClient.WAIT);
                half.sockets.add(s);
                OutputStream out = s.getOutputStream();
                out.write(halves.get(i % halves.size()).getBytes(StandardCharsets.US_ASCII));
                out.flush();
            }
            return half;
        } catch (IOException | RuntimeException e) {
            half.close();
            throw e;
        }
    }

    /** Leaves: every other socket with a reset (SO_LINGER 0), the rest with a FIN. */
    public void closeEveryOtherWithReset() throws IOException {
        for (int i = 0; i < sockets.size(); i++) {
            if (i % 2 == 0) {
                sockets.get(i).setSoLinger(true, 0);
            }
        }
        close();
    }

    /** Leaves: every socket with a FIN. */
    @Override
    public void close() {
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException e) {
                // gone anyway
            }
        }
    }
}
