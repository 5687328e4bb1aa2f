import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CdcClient } from '../src/cdc-client.js';

// --- Fakes: the browser's WebSocket, EventSource and fetch, driven by the test as the server. ---

function fakeTransports() {
  const sockets = [];
  const streams = [];
  const probes = [];
  let probeAnswer = { status: 200, body: null };

  class WebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code) { this.closedWith = code; }
    // The server's side.
    accept() { this.onopen({}); }
    receive(msg) { this.onmessage({ data: JSON.stringify({ v: 1, ...msg }) }); }
    drop(code = 1006, reason = '') {
      this.onerror?.({});
      this.onclose({ code, reason });
    }
  }

  class EventSource {
    constructor(url) {
      this.url = new URL(url);
      this.listeners = {};
      this.closed = false;
      streams.push(this);
    }
    addEventListener(type, listener) { (this.listeners[type] ??= []).push(listener); }
    close() { this.closed = true; }
    // The server's side: a named event with JSON data, or (no data) a connection failure.
    emit(type, data) {
      const event = data === undefined ? { type } : { type, data: JSON.stringify(data) };
      for (const listener of this.listeners[type] ?? []) listener(event);
    }
    fail() { this.emit('error'); }
  }

  async function fetch(url) {
    probes.push(url);
    if (probeAnswer === 'unreachable') throw new TypeError('fetch failed');
    const { status, body } = probeAnswer;
    return { ok: status < 300, status, json: async () => body };
  }

  const answerProbes = (answer) => { probeAnswer = answer; };
  return { WebSocket, EventSource, fetch, sockets, streams, probes, answerProbes };
}

// A connected client with everything it reports recorded; options override the defaults.
function start(options = {}) {
  const fakes = fakeTransports();
  const seen = { events: [], states: [], errors: [] };
  const client = new CdcClient({
    url: 'http://cdc.test',
    apiKey: 'k1',
    tables: ['orders'],
    WebSocket: fakes.WebSocket,
    EventSource: fakes.EventSource,
    fetch: fakes.fetch,
    backoff: { initialMs: 1, maxMs: 4 },
    onEvent: (event) => seen.events.push(event.id),
    onState: (state, detail) => seen.states.push({ state, ...detail }),
    onError: (error) => seen.errors.push(error),
    ...options,
  });
  client.connect();
  return { client, ...fakes, ...seen };
}

// Plays the server's side of a WebSocket connection up to `subscribed`; returns the subscribe message.
function handshake(ws, subscriptionId = 's-1') {
  ws.accept();
  ws.receive({ type: 'auth_ok', connection_id: 'c-1' });
  const subscribe = ws.sent.at(-1);
  ws.receive({ type: 'subscribed', request_id: subscribe.request_id, subscription_id: subscriptionId, tables: ['orders'] });
  return subscribe;
}

const event = (id) => ({
  id: String(id), cursor: `cur-${id}`, table: 'orders', operation: 'INSERT',
  payload: { id }, created_at: '2026-11-24T12:00:00.123456Z',
});
const cdcEvent = (id) => ({ type: 'cdc_event', subscription_id: 's-1', event: event(id) });

async function waitFor(check, ms = 1000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const lastState = (states) => states.at(-1).state;

describe('WebSocket', () => {
  test('authenticates with the first message, then subscribes to the tables', () => {
    const { sockets, states, client } = start();
    const ws = sockets[0];
    assert.equal(ws.url, 'ws://cdc.test/v1/ws');
    assert.deepEqual(states, [{ state: 'connecting', transport: 'websocket' }]);
    ws.accept();
    assert.deepEqual(ws.sent, [{ type: 'auth', api_key: 'k1' }]);
    ws.receive({ type: 'auth_ok', connection_id: 'c-1' });
    assert.deepEqual(ws.sent[1], { type: 'subscribe', request_id: ws.sent[1].request_id, tables: ['orders'] });
    ws.receive({ type: 'subscribed', request_id: ws.sent[1].request_id, subscription_id: 's-1', tables: ['orders'] });
    assert.deepEqual(states.at(-1), { state: 'open', transport: 'websocket', subscriptionId: 's-1', resumedFrom: null });
    assert.equal(client.subscriptionId, 's-1');
  });

  test('keeps a path below the service URL and a secure scheme', () => {
    const { sockets } = start({ url: 'https://example.com/cdc/' });
    assert.equal(sockets[0].url, 'wss://example.com/cdc/v1/ws');
  });

  test('delivers each event id once and remembers the last cursor', () => {
    const { sockets, events, client } = start();
    handshake(sockets[0]);
    for (const id of [1, 2, 1, 3, 2]) sockets[0].receive(cdcEvent(id));
    assert.deepEqual(events, ['1', '2', '3']);
    assert.equal(client.cursor, 'cur-3');
  });

  test('forgets the oldest ids past dedupeSize', () => {
    const { sockets, events } = start({ dedupeSize: 2 });
    handshake(sockets[0]);
    for (const id of [1, 2, 3, 1]) sockets[0].receive(cdcEvent(id));
    assert.deepEqual(events, ['1', '2', '3', '1']);
  });

  test('after a shutdown close (1001) it re-attaches its subscription from the cursor', async () => {
    const { sockets, states, events } = start();
    handshake(sockets[0]);
    sockets[0].receive(cdcEvent(1));
    sockets[0].receive(cdcEvent(2));
    sockets[0].drop(1001, 'shutting down');
    assert.equal(lastState(states), 'reconnecting');
    assert.equal(states.at(-1).closeCode, 1001);

    await waitFor(() => sockets.length === 2);
    const subscribe = handshake(sockets[1]);
    assert.deepEqual(subscribe, { type: 'subscribe', request_id: subscribe.request_id, subscription_id: 's-1', resume_from: 'cur-2' });
    assert.deepEqual(states.at(-1), { state: 'open', transport: 'websocket', subscriptionId: 's-1', resumedFrom: 'cur-2' });
    sockets[1].receive(cdcEvent(2)); // committed concurrently with 2: may come again
    sockets[1].receive(cdcEvent(3));
    assert.deepEqual(events, ['1', '2', '3']);
  });

  test('after a slow consumer close (4408) it reports the error and resumes from the cursor', async () => {
    const { sockets, errors } = start();
    handshake(sockets[0]);
    sockets[0].receive(cdcEvent(7));
    sockets[0].receive({ type: 'error', code: 'slow_consumer', message: 'too slow', cursor: 'cur-7' });
    sockets[0].drop(4408, 'cur-7');
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['slow_consumer', false]]);
    await waitFor(() => sockets.length === 2);
    assert.equal(handshake(sockets[1]).resume_from, 'cur-7');
  });

  test('an unauthorized key is fatal: one error, closed, no retry', async () => {
    const { sockets, states, errors } = start();
    sockets[0].accept();
    sockets[0].receive({ type: 'error', code: 'unauthorized', message: 'unknown key' });
    sockets[0].drop(4401);
    assert.deepEqual(errors, [{ code: 'unauthorized', message: 'unknown key', closeCode: undefined, fatal: true, transport: 'websocket' }]);
    assert.equal(lastState(states), 'closed');
    assert.equal(sockets[0].closedWith, 1000);
    await pause(30);
    assert.equal(sockets.length, 1);
  });

  test('a revoked key (close 4403) is fatal', async () => {
    const { sockets, states, errors } = start();
    handshake(sockets[0]);
    sockets[0].drop(4403, 'key revoked');
    assert.deepEqual(errors, [{ code: 'forbidden', message: 'key revoked', closeCode: 4403, fatal: true, transport: 'websocket' }]);
    assert.equal(lastState(states), 'closed');
    await pause(30);
    assert.equal(sockets.length, 1);
  });

  test('a table outside the key\'s scope is fatal', () => {
    const { sockets, states, errors } = start();
    sockets[0].accept();
    sockets[0].receive({ type: 'auth_ok', connection_id: 'c-1' });
    sockets[0].receive({ type: 'error', request_id: sockets[0].sent[1].request_id, code: 'forbidden', message: 'orders' });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['forbidden', true]]);
    assert.equal(lastState(states), 'closed');
  });

  test('resume_unavailable is reported and the subscription goes on live, without the cursor', () => {
    const { sockets, errors, client } = start({ resumeFrom: 'too-old' });
    const ws = sockets[0];
    ws.accept();
    ws.receive({ type: 'auth_ok', connection_id: 'c-1' });
    assert.equal(ws.sent[1].resume_from, 'too-old');
    ws.receive({ type: 'error', request_id: ws.sent[1].request_id, code: 'resume_unavailable', message: 'gone' });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['resume_unavailable', false]]);
    assert.deepEqual(ws.sent[2], { type: 'subscribe', request_id: ws.sent[2].request_id, tables: ['orders'] });
    assert.equal(client.cursor, null);
  });

  test('when its own subscription expired, it subscribes to the tables again from the cursor', async () => {
    const { sockets, errors, client } = start();
    handshake(sockets[0]);
    sockets[0].receive(cdcEvent(1));
    sockets[0].drop();
    await waitFor(() => sockets.length === 2);
    const ws = sockets[1];
    ws.accept();
    ws.receive({ type: 'auth_ok', connection_id: 'c-2' });
    ws.receive({ type: 'error', request_id: ws.sent[1].request_id, code: 'not_found', message: 'no such subscription' });
    assert.deepEqual(ws.sent[2], { type: 'subscribe', request_id: ws.sent[2].request_id, tables: ['orders'], resume_from: 'cur-1' });
    ws.receive({ type: 'subscribed', request_id: ws.sent[2].request_id, subscription_id: 's-2', tables: ['orders'] });
    assert.equal(client.subscriptionId, 's-2');
    assert.deepEqual(errors, []);
  });

  test('when someone else ends its own subscription, it subscribes to the tables again', () => {
    const { sockets, errors } = start();
    handshake(sockets[0]);
    sockets[0].receive(cdcEvent(4));
    sockets[0].receive({ type: 'unsubscribed', subscription_id: 's-1' });
    const again = sockets[0].sent.at(-1);
    assert.deepEqual(again, { type: 'subscribe', request_id: again.request_id, tables: ['orders'], resume_from: 'cur-4' });
    assert.deepEqual(errors, []);
  });

  test('a subscriptionId given is attached, and is fatal when not found', () => {
    const { sockets, states, errors } = start({ tables: undefined, subscriptionId: 's-9' });
    const ws = sockets[0];
    ws.accept();
    ws.receive({ type: 'auth_ok', connection_id: 'c-1' });
    assert.deepEqual(ws.sent[1], { type: 'subscribe', request_id: ws.sent[1].request_id, subscription_id: 's-9' });
    ws.receive({ type: 'error', request_id: ws.sent[1].request_id, code: 'not_found', message: 'no such subscription' });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['not_found', true]]);
    assert.equal(lastState(states), 'closed');
  });

  test('close() ends the subscription it created, and stops', async () => {
    const { sockets, states, client } = start();
    handshake(sockets[0]);
    sockets[0].receive(cdcEvent(1));
    client.close();
    assert.deepEqual(sockets[0].sent.at(-1), { type: 'unsubscribe', request_id: sockets[0].sent.at(-1).request_id, subscription_id: 's-1' });
    assert.equal(sockets[0].closedWith, 1000);
    assert.equal(lastState(states), 'closed');
    sockets[0].drop(1000); // the close arriving late changes nothing
    await pause(30);
    assert.equal(sockets.length, 1);

    client.connect(); // starts again: a new subscription, from the cursor
    const subscribe = handshake(sockets[1], 's-2');
    assert.deepEqual(subscribe, { type: 'subscribe', request_id: subscribe.request_id, tables: ['orders'], resume_from: 'cur-1' });
  });

  test('close() leaves a subscription it was given alone', () => {
    const { sockets, client } = start({ tables: undefined, subscriptionId: 's-9' });
    handshake(sockets[0], 's-9');
    client.close();
    assert.equal(sockets[0].sent.at(-1).type, 'subscribe');
  });

  test('failed attempts are retried with a delay, and transport "websocket" never falls back', async () => {
    const { sockets, streams, states } = start({ transport: 'websocket' });
    for (let i = 0; i < 3; i++) {
      sockets[i].drop();
      await waitFor(() => sockets.length === i + 2);
    }
    assert.equal(streams.length, 0);
    const retries = states.filter((s) => s.delayMs !== undefined);
    assert.equal(retries.length, 3);
    assert.ok(retries.every((s) => s.state === 'connecting' && s.delayMs >= 1 && s.delayMs <= 4), JSON.stringify(retries));
  });
});

describe('fallback to SSE', () => {
  test('after wsAttempts sockets close without a word from the server, it uses SSE', async () => {
    const { sockets, streams, states, client } = start();
    sockets[0].drop();
    await waitFor(() => sockets.length === 2);
    sockets[1].drop();
    assert.deepEqual(states.at(-1), { state: 'connecting', transport: 'sse', closeCode: 1006, reason: '', delayMs: 0 });
    await waitFor(() => streams.length === 1);
    assert.equal(streams[0].url.href, 'http://cdc.test/v1/events?api_key=k1&tables=orders');
    assert.equal(client.transport, 'sse');
  });

  test('once WebSocket has worked, failures do not switch to SSE', async () => {
    const { sockets, streams } = start();
    handshake(sockets[0]);
    sockets[0].drop();
    for (let i = 1; i < 4; i++) {
      await waitFor(() => sockets.length === i + 1);
      sockets[i].drop();
    }
    await pause(20);
    assert.equal(streams.length, 0);
  });

  test('without a WebSocket implementation it uses SSE at once', () => {
    const { streams, sockets, client } = start({ WebSocket: undefined });
    assert.equal(client.transport, 'sse');
    assert.equal(sockets.length, 0);
    assert.equal(streams.length, 1);
  });
});

describe('SSE', () => {
  const sse = (options) => start({ transport: 'sse', ...options });
  const subscribed = { subscription_id: 's-1', tables: ['orders'] };

  test('opens on `subscribed`, delivers each event once, and reopens a dropped stream from the cursor', async () => {
    const { streams, states, events } = sse();
    streams[0].emit('subscribed', subscribed);
    assert.deepEqual(states.at(-1), { state: 'open', transport: 'sse', subscriptionId: 's-1', resumedFrom: null });
    for (const id of [1, 2, 2]) streams[0].emit('cdc_event', event(id));
    assert.deepEqual(events, ['1', '2']);

    streams[0].fail();
    assert.ok(streams[0].closed, 'the browser\'s own reconnect, to the stale URL, is stopped');
    assert.equal(lastState(states), 'reconnecting');
    await waitFor(() => streams.length === 2);
    assert.equal(streams[1].url.searchParams.get('last_event_id'), 'cur-2');
    streams[1].emit('subscribed', subscribed);
    assert.equal(states.at(-1).resumedFrom, 'cur-2');
  });

  test('attaches a given subscription by id', () => {
    const { streams } = sse({ tables: undefined, subscriptionId: 's-9' });
    assert.equal(streams[0].url.href, 'http://cdc.test/v1/events?api_key=k1&subscription_id=s-9');
  });

  test('the server\'s unauthorized error event is fatal', async () => {
    const { streams, states, errors } = sse();
    streams[0].emit('subscribed', subscribed);
    streams[0].emit('error', { code: 'unauthorized', message: 'key revoked' });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['unauthorized', true]]);
    assert.equal(lastState(states), 'closed');
    await pause(30);
    assert.equal(streams.length, 1);
  });

  test('a slow_consumer error event is reported and the stream reopens from the cursor', async () => {
    const { streams, errors } = sse();
    streams[0].emit('subscribed', subscribed);
    streams[0].emit('cdc_event', event(5));
    streams[0].emit('error', { code: 'slow_consumer', message: 'too slow', cursor: 'cur-5' });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['slow_consumer', false]]);
    await waitFor(() => streams.length === 2);
    assert.equal(streams[1].url.searchParams.get('last_event_id'), 'cur-5');
  });

  test('a stream refused with 410 reports resume_unavailable and reopens without the cursor', async () => {
    const { streams, probes, errors, answerProbes } = sse({ resumeFrom: 'too-old' });
    answerProbes({ status: 410, body: { code: 'resume_unavailable', message: 'gone' } });
    streams[0].fail();
    assert.ok(streams[0].closed, 'the browser\'s own reconnect does not race the probe');
    await waitFor(() => streams.length === 2);
    assert.deepEqual(probes, [streams[0].url.href]);
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['resume_unavailable', false]]);
    assert.equal(streams[1].url.searchParams.has('last_event_id'), false);
  });

  test('a stream refused with 401 is fatal', async () => {
    const { streams, states, errors, answerProbes } = sse();
    answerProbes({ status: 401, body: { code: 'unauthorized', message: 'unknown key' } });
    streams[0].fail();
    await waitFor(() => lastState(states) === 'closed');
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [['unauthorized', true]]);
    await pause(30);
    assert.equal(streams.length, 1);
  });

  test('a stream that fails while the server is unreachable is retried', async () => {
    const { streams, errors, answerProbes } = sse();
    answerProbes('unreachable');
    streams[0].fail();
    await waitFor(() => streams.length === 2);
    assert.deepEqual(errors, []);
  });
});

describe('options', () => {
  const base = { url: 'http://cdc.test', apiKey: 'k1', WebSocket: class {}, EventSource: class {} };

  test('exactly one of tables and subscriptionId', () => {
    assert.throws(() => new CdcClient(base), TypeError);
    assert.throws(() => new CdcClient({ ...base, tables: [] }), TypeError);
    assert.throws(() => new CdcClient({ ...base, tables: ['orders'], subscriptionId: 's-1' }), TypeError);
  });

  test('an API key, a URL, a known transport and an implementation for it', () => {
    const ok = { ...base, tables: ['orders'] };
    assert.throws(() => new CdcClient({ ...ok, apiKey: '' }), TypeError);
    assert.throws(() => new CdcClient({ ...ok, url: 'not a url' }), TypeError);
    assert.throws(() => new CdcClient({ ...ok, transport: 'carrier-pigeon' }), TypeError);
    assert.throws(() => new CdcClient({ ...ok, transport: 'sse', EventSource: undefined }), TypeError);
    assert.equal(new CdcClient(ok).state, 'closed');
  });
});
