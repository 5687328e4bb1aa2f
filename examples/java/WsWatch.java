// Watch cdc-notify events over a WebSocket, with nothing but a JDK (21+):
//   java examples/java/WsWatch.java ws://localhost:8080/v1/ws "$KEY" orders,customers [resume-cursor]
// Prints every message the server sends, one JSON object per line.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

public class WsWatch {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: WsWatch <ws-url> <api-key> <table,table,...> [resume-cursor]");
            System.exit(2);
        }
        String tables = "\"" + String.join("\",\"", args[2].split(",")) + "\"";
        String resume = args.length > 3 ? ",\"resume_from\":\"" + args[3] + "\"" : "";
        CompletableFuture<Void> done = new CompletableFuture<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            private final StringBuilder text = new StringBuilder();

            @Override
            public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                text.append(data);
                if (last) {
                    System.out.println(text);
                    text.setLength(0);
                }
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
                System.err.println("closed: " + code + " " + reason);
                done.complete(null);
                return null;
            }

            @Override
            public void onError(WebSocket ws, Throwable error) {
                System.err.println("error: " + error);
                done.complete(null);
            }
        };
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
                .header("Authorization", "Bearer " + args[1])
                .buildAsync(URI.create(args[0]), listener).join();
        ws.sendText("{\"type\":\"subscribe\",\"request_id\":\"watch\",\"tables\":[" + tables + "]" + resume + "}", true);
        done.join();
    }
}
