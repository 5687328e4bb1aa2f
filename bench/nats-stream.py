#!/usr/bin/env python3
"""Deletes or describes a NATS JetStream stream through JetStream's API subjects, without the nats CLI.

usage: bench/nats-stream.py delete|info STREAM [nats://127.0.0.1:4222]

bench/run.sh gives each relay-mode run a stream of its own and deletes it here at the end, so that no state
carries over from one run to the next. Prints JetStream's JSON answer; exits 1 on an error answer.
"""
import json
import socket
import sys
from urllib.parse import urlparse


def request(url, subject, timeout=5.0):
    u = urlparse(url)
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=timeout) as s:
        f = s.makefile("rb")
        info = f.readline()
        if not info.startswith(b"INFO "):
            raise RuntimeError("not a NATS server: %r" % info[:80])
        inbox = "_INBOX.cdcbench.%d" % id(s)
        s.sendall(("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB %s 1\r\nPUB %s %s 0\r\n\r\n"
                   % (inbox, subject, inbox)).encode())
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("connection closed without an answer")
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                body = f.read(size + 2)[:size]
                return json.loads(body)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("delete", "info"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    url = argv[3] if len(argv) > 3 else "nats://127.0.0.1:4222"
    op = "DELETE" if argv[1] == "delete" else "INFO"
    answer = request(url, "$JS.API.STREAM.%s.%s" % (op, argv[2]))
    print(json.dumps(answer if op == "DELETE" else {k: answer.get(k) for k in ("error", "state")}))
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
