package io.cdcnotify.socket;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import io.helidon.common.socket.PlainSocket;

/** A connected loopback pair: a client socket and the accepted side as Helidon's plain socket. */
record SocketPair(Socket client, Socket accepted, PlainSocket server) implements AutoCloseable {

    static SocketPair open() throws IOException {
        try (ServerSocket listening = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Socket client = new Socket(InetAddress.getLoopbackAddress(), listening.getLocalPort());
            Socket accepted = listening.accept();
            return new SocketPair(client, accepted, PlainSocket.server(accepted, "test", "test"));
        }
    }

    @Override
    public void close() throws IOException {
        client.close();
        accepted.close();
    }
}
