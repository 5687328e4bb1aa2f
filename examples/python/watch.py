#!/usr/bin/env python3
"""Watch cdc-notify change events over a WebSocket.

    python3 -m pip install -r requirements.txt        # websockets>=10.4
    export CDC_API_KEY=cdc_...                         # a key that may read these tables
    python3 watch.py orders customers                  # ws://localhost:8080/v1/ws
    python3 watch.py --url wss://cdc.example.com/v1/ws orders | jq .payload

Prints each event as one JSON line on stdout, and what happens to the connection on stderr.
After a drop it reconnects with backoff, re-attaches its subscription and resumes after the
last event it printed, so nothing is lost and nothing is printed twice. It stops for good
when retrying cannot help: a bad, revoked or expired key (close 4401/4403), a table outside
the key's scope (forbidden), a malformed request (bad_request).
"""
import argparse
import asyncio
import json
import os
import random
import sys
from collections import OrderedDict

try:
    from websockets.asyncio.client import connect  # websockets 13 and later
except ImportError:
    from websockets import connect  # websockets 10 to 12
from websockets.exceptions import ConnectionClosed, WebSocketException

FATAL_CLOSES = {4401: "unauthorized", 4403: "the key was revoked or has expired"}
FATAL_ERRORS = {"unauthorized", "forbidden", "bad_request"}
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # payloads may be up to 1 MiB, plus the envelope
REMEMBERED_IDS = 1000


def log(text):
    print(f"watch: {text}", file=sys.stderr, flush=True)


class Stop(Exception):
    """Something no retry can fix."""


class Watcher:
    def __init__(self, url, key, tables):
        self.url, self.key, self.tables = url, key, tables
        self.cursor = None        # of the last event printed: where a new connection resumes
        self.subscription = None  # our durable subscription, re-attached after a drop
        self.request = None       # request_id of our pending subscribe
        self.requests = 0
        self.attempt = 0          # failed connections in a row, for the backoff
        self.seen = OrderedDict() # recent event ids: a resume may send again what committed concurrently

    async def run(self):
        while True:
            try:
                async with connect(self.url, max_size=MAX_MESSAGE_BYTES) as ws:
                    await ws.send(json.dumps({"type": "auth", "api_key": self.key}))
                    async for raw in ws:
                        await self.on_message(ws, json.loads(raw))
                    code = ws.close_code
                why = f"connection closed ({code})"
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else 1006
                why = f"connection closed ({code})"
            except (OSError, asyncio.TimeoutError, WebSocketException) as e:
                code, why = None, f"cannot connect to {self.url} ({e})"
            if code in FATAL_CLOSES:
                raise Stop(f"closed with {code}: {FATAL_CLOSES[code]}")
            delay = min(30.0, 0.5 * 2 ** self.attempt) * (0.5 + random.random() / 2)
            self.attempt += 1
            log(f"{why}; retrying in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def on_message(self, ws, msg):
        kind = msg.get("type")
        if kind == "cdc_event":
            self.deliver(msg["event"])
        elif kind == "auth_ok":
            await self.subscribe(ws)
        elif kind == "subscribed" and msg.get("request_id") == self.request:
            self.subscription = msg["subscription_id"]
            self.attempt = 0
            resumed = f", resuming after {self.cursor}" if self.cursor else ""
            log(f"subscribed to {', '.join(msg['tables'])} as {self.subscription}{resumed}")
        elif kind == "error":
            await self.on_error(ws, msg)
        elif kind == "unsubscribed" and "request_id" not in msg:
            log(f"subscription {msg.get('subscription_id')} was ended elsewhere; subscribing again")
            self.subscription = None
            await self.subscribe(ws)

    async def subscribe(self, ws):
        self.requests += 1
        self.request = f"r{self.requests}"
        msg = {"type": "subscribe", "request_id": self.request}
        if self.subscription:
            msg["subscription_id"] = self.subscription  # brings what it queued while we were away
        else:
            msg["tables"] = self.tables
        if self.cursor:
            msg["resume_from"] = self.cursor
        await ws.send(json.dumps(msg))

    async def on_error(self, ws, err):
        code, message = err.get("code"), err.get("message")
        ours = err.get("request_id") == self.request
        log(f"error {code}: {message}")
        if code in FATAL_ERRORS:
            raise Stop(f"{code}: {message}")
        if code == "not_found" and ours:
            self.subscription = None  # expired or deleted: make a new one, from our cursor
            await self.subscribe(ws)
        elif code == "resume_unavailable" and ours:
            log("the events after our cursor are gone from the outbox: going on with live events")
            self.cursor = None
            await self.subscribe(ws)
        elif ours:
            await ws.close()  # limit_exceeded, internal: try again after a pause
        # slow_consumer: the close (4408) follows, and we resume from the last event we printed

    def deliver(self, event):
        if event["id"] in self.seen:
            return
        self.seen[event["id"]] = None
        if len(self.seen) > REMEMBERED_IDS:
            self.seen.popitem(last=False)
        self.cursor = event["cursor"]
        print(json.dumps(event), flush=True)


def main():
    parser = argparse.ArgumentParser(description="Print cdc-notify events as JSON lines.")
    parser.add_argument("tables", nargs="+", help="tables to watch, as written in cdc.outbox.table_name")
    parser.add_argument("--url", default=os.environ.get("CDC_WS_URL", "ws://localhost:8080/v1/ws"),
                        help="the service's WebSocket endpoint (default $CDC_WS_URL or %(default)s)")
    parser.add_argument("--key", default=os.environ.get("CDC_API_KEY"),
                        help="API key (default $CDC_API_KEY)")
    args = parser.parse_args()
    if not args.key:
        parser.error("no API key: set CDC_API_KEY or pass --key")
    try:
        asyncio.run(Watcher(args.url, args.key, args.tables).run())
    except Stop as e:
        log(f"stopped: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        # Our subscription outlives us, detached, until the server's TTL (5 minutes) ends it.
        sys.exit(130)


if __name__ == "__main__":
    main()
