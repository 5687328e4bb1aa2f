/**
 * cdc-notify client: one live subscription to change events, over WebSocket or, where
 * WebSocket cannot get through, Server-Sent Events. It reconnects after drops, resumes
 * from the cursor of the last event it delivered, and delivers each event id once.
 *
 * The protocol is the service's contract v1 (events, WebSocket, SSE). An ES module with no
 * dependencies: it runs in browsers as is, and anywhere else given WebSocket/EventSource.
 */

// Close codes after which no retry can help: the key is unknown, revoked or expired.
const FATAL_CLOSES = { 4401: 'unauthorized', 4403: 'forbidden' };

const DEFAULTS = {
  transport: 'auto',
  wsAttempts: 2,
  dedupeSize: 1000,
  backoff: { initialMs: 500, maxMs: 30_000 },
};

/**
 * Milliseconds to wait before retry number `attempt` (0 for the first): doubling from
 * `initialMs`, capped at `maxMs`, with "equal jitter" (half fixed, half random) so that
 * clients dropped together spread out, yet none retries at once.
 */
export function backoffDelay(attempt, { initialMs = 500, maxMs = 30_000 } = {}, random = Math.random) {
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export class CdcClient {
  #o;
  #state = 'closed';
  #transport;             // of the current attempt, or of the next one while waiting
  #cursor;                // of the last event delivered: where the next connection resumes
  #ownSubscription = null; // the durable subscription our WebSocket `subscribe` created
  #seen = new Set();      // ids of recently delivered events, oldest first
  #conn = null;           // the current attempt; callbacks from older ones are ignored
  #timer = null;
  #attempt = 0;           // retries since the last open, for the backoff
  #wsFailures = 0;        // WebSocket attempts that closed without a word from the server
  #wsWorks = false;       // the server once answered over WebSocket: later failures are not the path's
  #opened = false;        // opened at least once since connect()
  #requests = 0;

  constructor(options = {}) {
    const o = {
      ...DEFAULTS,
      url: globalThis.location?.origin,
      WebSocket: globalThis.WebSocket,
      EventSource: globalThis.EventSource,
      fetch: globalThis.fetch?.bind(globalThis), // unbound, a browser's fetch throws "Illegal invocation"
      ...options,
    };
    new URL(o.url); // throws a TypeError early for a missing or malformed URL
    if (!o.apiKey) throw new TypeError('apiKey is required');
    const hasTables = Array.isArray(o.tables) && o.tables.length > 0;
    if (hasTables === Boolean(o.subscriptionId)) {
      throw new TypeError('give exactly one of tables (a non-empty array) and subscriptionId');
    }
    if (!['auto', 'websocket', 'sse'].includes(o.transport)) throw new TypeError(`unknown transport ${o.transport}`);
    this.#transport = o.transport === 'sse' || (o.transport === 'auto' && !o.WebSocket) ? 'sse' : 'websocket';
    if (!o[this.#transport === 'sse' ? 'EventSource' : 'WebSocket']) {
      throw new TypeError(`no ${this.#transport === 'sse' ? 'EventSource' : 'WebSocket'} implementation: pass one in the options`);
    }
    this.#o = o;
    this.#cursor = o.resumeFrom ?? null;
  }

  /** 'connecting' | 'open' | 'reconnecting' | 'closed' */
  get state() { return this.#state; }
  /** 'websocket' | 'sse': the transport in use, or about to be tried. */
  get transport() { return this.#transport; }
  /** Cursor of the last event delivered, or null: hand it to `resumeFrom` to continue elsewhere. */
  get cursor() { return this.#cursor; }
  /** The subscription attached to: the one given, or the one a WebSocket subscribe created. */
  get subscriptionId() { return this.#o.subscriptionId ?? this.#ownSubscription; }

  /** Starts connecting; after close() it starts again from the last cursor. */
  connect() {
    if (this.#state !== 'closed') return this;
    this.#opened = false;
    this.#attempt = 0;
    this.#setState('connecting');
    this.#start();
    return this;
  }

  /** Stops for good (until connect()). Ends the subscription this client created, if any. */
  close() {
    if (this.#state === 'closed') return;
    const conn = this.#conn;
    // Left alone, a subscription we made would outlive us on the server for minutes, queuing events.
    if (conn?.ws && conn.subscribed && this.#ownSubscription) {
      this.#send(conn, { type: 'unsubscribe', request_id: this.#nextRequestId(), subscription_id: this.#ownSubscription });
    }
    this.#ownSubscription = null;
    this.#stop();
  }

  #start() {
    this.#timer = null;
    if (this.#transport === 'websocket') this.#openWebSocket();
    else this.#openEventSource();
  }

  #openWebSocket() {
    const conn = {};
    this.#conn = conn;
    try {
      conn.ws = new this.#o.WebSocket(endpoint(this.#o.url, '/v1/ws', 'ws'));
    } catch (e) {
      // Thrown for mixed content and the like: a socket that never opened.
      return this.#onWsClose({ code: 1006, reason: e.message });
    }
    const live = () => this.#conn === conn;
    // Browsers cannot set headers on a WebSocket, so the key goes in the first message.
    conn.ws.onopen = () => live() && this.#send(conn, { type: 'auth', api_key: this.#o.apiKey });
    conn.ws.onmessage = (e) => live() && this.#onWsMessage(conn, JSON.parse(e.data));
    // 'error' is always followed by 'close', which carries the code: only 'close' is handled.
    conn.ws.onclose = (e) => live() && this.#onWsClose(e);
  }

  #onWsMessage(conn, msg) {
    this.#wsWorks = true;
    switch (msg.type) {
      case 'auth_ok':
        return this.#subscribe(conn);
      case 'subscribed':
        if (msg.request_id === conn.request) this.#onSubscribed(conn, msg.subscription_id);
        return;
      case 'cdc_event':
        return this.#deliver(msg.event);
      case 'error':
        return this.#onServerError(conn, msg, msg.request_id !== undefined && msg.request_id === conn.request);
      case 'unsubscribed':
        // Without a request_id it is not our doing: someone ended the subscription.
        if (msg.request_id === undefined) {
          this.#onServerError(conn, { code: 'not_found', message: `subscription ${msg.subscription_id} was ended` }, true);
        }
    }
  }

  #subscribe(conn) {
    conn.request = this.#nextRequestId();
    conn.resumedFrom = this.#cursor;
    const msg = { type: 'subscribe', request_id: conn.request };
    // Re-attaching our own subscription also brings the events it queued while we were away.
    if (this.subscriptionId) msg.subscription_id = this.subscriptionId;
    else msg.tables = this.#o.tables;
    if (this.#cursor) msg.resume_from = this.#cursor;
    this.#send(conn, msg);
  }

  #onWsClose({ code, reason }) {
    if (FATAL_CLOSES[code]) {
      return this.#fail({ code: FATAL_CLOSES[code], message: reason || `closed with ${code}`, closeCode: code });
    }
    // Sockets that never hear the server, while none ever has, point at a path that blocks WebSocket.
    const o = this.#o;
    if (!this.#wsWorks && o.transport === 'auto' && o.EventSource && ++this.#wsFailures >= o.wsAttempts) {
      this.#transport = 'sse';
      this.#attempt = 0;
      return this.#retry({ closeCode: code, reason }, 0);
    }
    this.#retry({ closeCode: code, reason });
  }

  #openEventSource() {
    const o = this.#o;
    const params = { api_key: o.apiKey };
    if (o.subscriptionId) params.subscription_id = o.subscriptionId;
    else params.tables = o.tables.join(',');
    if (this.#cursor) params.last_event_id = this.#cursor;
    const conn = { url: endpoint(o.url, '/v1/events', 'http', params), resumedFrom: this.#cursor };
    conn.es = new o.EventSource(conn.url);
    this.#conn = conn;
    const on = (type, handle) => conn.es.addEventListener(type, (e) => this.#conn === conn && handle(e));
    on('subscribed', (e) => this.#onSubscribed(conn, JSON.parse(e.data).subscription_id));
    on('cdc_event', (e) => this.#deliver(JSON.parse(e.data)));
    on('error', (e) => this.#onSseError(conn, e));
  }

  #onSseError(conn, e) {
    // The browser would reconnect by itself, but to the URL it was first given, with the
    // first cursor in it: we reconnect ourselves, with the latest one.
    conn.es.close();
    if (e.data !== undefined) return this.#onServerError(conn, JSON.parse(e.data), true); // the server's `event: error`
    if (conn.subscribed) return this.#retry();
    this.#probe(conn);
  }

  // The stream failed before it opened. EventSource hides the HTTP status, so ask again with
  // fetch to learn whether retrying can help (a bad key, an expired cursor) or not.
  async #probe(conn) {
    if (!this.#o.fetch) return this.#retry();
    conn.probe = new AbortController();
    try {
      const res = await this.#o.fetch(conn.url, { signal: conn.probe.signal });
      if (this.#conn !== conn) return;
      if (res.ok) return this.#retry(); // it would open now; #retry aborts this stream
      const err = await res.json().catch(() => ({ code: 'internal', message: `HTTP ${res.status}` }));
      if (this.#conn === conn) this.#onServerError(conn, err, true);
    } catch {
      if (this.#conn === conn) this.#retry(); // unreachable: try again later
    }
  }

  #onSubscribed(conn, subscriptionId) {
    conn.subscribed = true;
    // An SSE `tables` subscription ends with its stream: there is nothing to re-attach.
    if (conn.ws && !this.#o.subscriptionId) this.#ownSubscription = subscriptionId;
    this.#opened = true;
    this.#attempt = 0;
    this.#setState('open', { subscriptionId, resumedFrom: conn.resumedFrom });
  }

  // Decides what an error from the server means. `aboutSubscription`: it concerns the
  // subscription of this connection (an answer to its subscribe, or any SSE error).
  #onServerError(conn, err, aboutSubscription) {
    const { code } = err;
    if (code === 'unauthorized' || code === 'forbidden' || code === 'bad_request'
        || (code === 'not_found' && this.#o.subscriptionId)) {
      return this.#fail(err);
    }
    if (code === 'not_found' && aboutSubscription) {
      // Our own subscription expired or was deleted: make a new one, from the cursor.
      this.#ownSubscription = null;
      return this.#resubscribe(conn);
    }
    this.#report(err, false);
    if (code === 'resume_unavailable') {
      this.#cursor = null; // too old for the outbox: go on with live events
      return this.#resubscribe(conn);
    }
    // Any other refusal of our subscription (limit_exceeded, internal) may pass: start over
    // later. Other WebSocket errors (slow_consumer) come with a close, which decides.
    if (aboutSubscription) this.#retry();
  }

  #resubscribe(conn) {
    if (conn.ws) this.#subscribe(conn);
    else this.#retry({}, 0);
  }

  #deliver(event) {
    if (this.#seen.has(event.id)) return; // a resume may redeliver events that committed concurrently
    this.#seen.add(event.id);
    if (this.#seen.size > this.#o.dedupeSize) this.#seen.delete(this.#seen.values().next().value);
    this.#cursor = event.cursor;
    this.#o.onEvent?.(event);
  }

  // Drops the current attempt and schedules the next one.
  #retry(detail = {}, delayMs = backoffDelay(this.#attempt++, this.#o.backoff)) {
    this.#closeConn();
    this.#setState(this.#opened ? 'reconnecting' : 'connecting', { ...detail, delayMs });
    this.#timer = setTimeout(() => this.#start(), delayMs);
  }

  #fail({ code, message, closeCode }) {
    this.#report({ code, message, closeCode }, true);
    this.#stop();
  }

  #stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#closeConn();
    this.#setState('closed');
  }

  #closeConn() {
    const conn = this.#conn;
    this.#conn = null;
    conn?.ws?.close(1000);
    conn?.es?.close();
    conn?.probe?.abort();
  }

  #report({ code, message, closeCode }, fatal) {
    this.#o.onError?.({ code, message, closeCode, fatal, transport: this.#transport });
  }

  #setState(state, detail = {}) {
    this.#state = state;
    this.#o.onState?.(state, { transport: this.#transport, ...detail });
  }

  #send(conn, msg) {
    conn.ws.send(JSON.stringify(msg));
  }

  #nextRequestId() {
    return `r${++this.#requests}`;
  }
}

// The service URL with `path` appended and its scheme switched to `family` ('ws' or 'http'),
// keeping it secure when it was.
function endpoint(base, path, family, params = {}) {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/$/, '') + path;
  url.protocol = family + (url.protocol === 'https:' || url.protocol === 'wss:' ? 's:' : ':');
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}
