/*
 * cdc-notify web console: watch change events live, and manage keys, subscriptions and
 * captures when the key is an admin's. Plain DOM over the client library and the REST API.
 *
 * Element ids, stable for browser tests:
 *   #connect-form     #api-key (kept in sessionStorage only), #tables (comma-separated),
 *                     #connect (submit), #disconnect
 *   #state            connecting | open | reconnecting | closed (also as data-state)
 *   #transport        websocket | sse | –
 *   #error            the latest error, "code: message" (role=alert; empty when none)
 *   #tab-live, #tab-subscriptions, #tab-keys, #tab-captures  tabs (aria-selected) showing
 *   #panel-live, #panel-subscriptions, #panel-keys, #panel-captures; subscriptions shows for
 *                     any valid key, keys and captures for an admin key only (known from
 *                     GET /v1/keys/self, so that the console never makes a call its key may not: no 403s)
 *   #hint             the first-run hint (where a key comes from), shown while there is no key
 *   #summary          this instance's /v1/state, polled every 2 s while connected: #state-connections,
 *                     #state-subscriptions, #state-listener, #state-lag, #state-queued; and #state-key,
 *                     the key in use (from /v1/keys/self)
 *   #chart            a canvas: events/s (bars) and the median latency of each second (line), last 60 s;
 *                     its data-events holds the events it counts; #chart-rate, #chart-latency the last second
 *   #events           tbody, newest first, at most 500 rows: one tr[data-id=<event id>] per event
 *                     (cells id, table, operation, payload summary, created_at, latency ms) and tr.note rows,
 *                     without data-id, for what happened to the connection, e.g.
 *                     "reconnected, resumed from cursor …"
 *   #filter, #pause (aria-pressed), #clear, #waiting (rows held while paused)
 *   #detail           the selected event (click or Enter on its row, which gets aria-current), pretty-printed
 *   #subscriptions, #keys, #captures  tbody: one tr[data-id] per item (a key's or subscription's
 *                     id, a capture's table), each with a button.delete; [data-refresh] buttons
 *   #key-form         #key-name, #key-tables, #key-admin, #key-expires, #key-create;
 *                     #new-key / #new-key-value show a created key once
 *   #capture-form     #capture-table, #capture-exclude, #capture-create
 *
 * A link can connect at once: ?key=<api key>&tables=a,b (or the same after #, which never
 * reaches a server's logs; the demo command prints such a link). Both are moved into the form
 * and sessionStorage, and taken out of the address bar so that the key stays out of history.
 */
import { CdcClient } from './js/cdc-client.js';

const MAX_ROWS = 500;
const STATE_EVERY_MS = 2000;
const CHART_SECONDS = 60;
const BASE = new URL('.', location.href).href; // the service, wherever the console is mounted
const STORED_KEY = 'cdc-notify.api-key';
const STORED_TABLES = 'cdc-notify.tables';

// Admin lists: where each lives (a DELETE goes to path/id), what names a row, and its cells.
const VIEWS = {
  subscriptions: {
    path: 'v1/subscriptions',
    id: (s) => s.id,
    cells: (s) => [s.id, s.tables.join(', '), s.created_at, s.attached ? 'yes' : 'no', s.queued, s.dropped, s.expires_at ?? '–'],
  },
  keys: {
    path: 'v1/keys',
    id: (k) => k.id,
    cells: (k) => [k.id, k.name, k.tables.join(', '), k.admin ? 'yes' : 'no', k.expires_at ?? 'never', k.created_at],
  },
  captures: {
    path: 'v1/captures',
    id: (c) => c.table,
    cells: (c) => [c.table, c.exclude_columns.join(', ') || '–', c.created_at],
  },
};

const $ = (id) => document.getElementById(id);
const events = $('events');
const rowEvents = new WeakMap(); // event row → {event, text}: text, for the filter, made when first needed

let apiKey = '';
let client = null;
let opened = false;  // the current client has been open once: later opens are reconnections
let paused = false;
let held = [];       // rows that arrived while paused, oldest first
let query = '';
let currentTab = 'live';
let stateTimer = null;
let seconds = [];    // the chart's data: {t: epoch second, count, latencies}, oldest first

// --- Live events ---

function onEvent(event) {
  const row = document.createElement('tr');
  row.dataset.id = event.id;
  row.tabIndex = 0;
  // Date.parse is only sure of three fractional digits; created_at has six.
  const latency = Date.now() - Date.parse(event.created_at.replace(/(\.\d{3})\d+/, '$1'));
  for (const text of [event.id, event.table, event.operation, summarize(event.payload), event.created_at, latency]) {
    row.insertCell().textContent = text;
  }
  row.cells[3].className = 'payload';
  row.lastChild.className = 'num';
  rowEvents.set(row, { event, text: null });
  record(latency);
  show(row);
}

// One line for a payload: a captured row's key and what changed, or the first fields of any other object.
function summarize(payload) {
  const LIMIT = 120;
  let text;
  if (payload && typeof payload === 'object' && !Array.isArray(payload) && ('new' in payload || 'old' in payload)) {
    const { new: after, old: before, key } = payload;
    const changed = after && before
      ? Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]))
        .map((k) => `${k}: ${brief(before[k])} → ${brief(after[k])}`).join(', ')
      : pairs(after ?? before, key);
    text = [key ? pairs(key) : '', changed].filter(Boolean).join(' · ');
  } else if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    text = pairs(payload);
  } else {
    text = JSON.stringify(payload);
  }
  return text.length > LIMIT ? `${text.slice(0, LIMIT - 1)}…` : text;
}

// "k=v, …" of an object's fields, leaving out those already shown as its key.
const pairs = (object, shown = {}) => Object.entries(object ?? {})
  .filter(([k]) => !(k in (shown ?? {}))).map(([k, v]) => `${k}=${brief(v)}`).join(', ');
const brief = (value) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

function onState(state, { transport, subscriptionId, resumedFrom, delayMs, closeCode }) {
  $('state').textContent = state;
  $('state').dataset.state = state;
  $('transport').textContent = transport;
  $('disconnect').disabled = state === 'closed';
  if (state === 'open') {
    note(!opened ? `connected over ${transport}, subscription ${subscriptionId}`
      : resumedFrom ? `reconnected, resumed from cursor ${resumedFrom}`
      : 'reconnected; no event yet, so no cursor to resume from');
    opened = true;
  } else if (delayMs !== undefined) {
    note(`${closeCode ? `connection closed (${closeCode})` : 'no connection'}; retrying over ${transport} in ${(delayMs / 1000).toFixed(1)} s`);
  }
}

function onError({ code, message, fatal }) {
  showError(`${code}: ${message}`);
  note(`${fatal ? 'stopped' : 'error'}: ${code}: ${message}`, 'error');
}

function note(text, kind = '') {
  const row = document.createElement('tr');
  row.className = `note ${kind}`;
  const cell = row.insertCell();
  cell.colSpan = 6;
  cell.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  show(row);
}

function show(row) {
  if (paused) {
    held.push(row);
    if (held.length > MAX_ROWS) held.shift();
    $('waiting').textContent = `${held.length} waiting`;
    return;
  }
  row.hidden = !matches(row);
  events.prepend(row);
  while (events.rows.length > MAX_ROWS) events.deleteRow(-1);
}

function matches(row) {
  const entry = rowEvents.get(row);
  if (!query || !entry) return true; // notes always show
  entry.text ??= JSON.stringify(entry.event).toLowerCase();
  return entry.text.includes(query);
}

function select(row) {
  events.querySelector('[aria-current]')?.removeAttribute('aria-current');
  row.setAttribute('aria-current', 'true');
  $('detail').textContent = JSON.stringify(rowEvents.get(row).event, null, 2);
}

// --- Connecting ---

function disconnect() {
  client?.close();
  client = null;
  clearInterval(stateTimer);
  stateTimer = null;
}

$('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  disconnect();
  apiKey = $('api-key').value.trim();
  sessionStorage.setItem(STORED_KEY, apiKey);
  sessionStorage.setItem(STORED_TABLES, $('tables').value);
  showError('');
  $('new-key').hidden = true;
  $('hint').hidden = Boolean(apiKey);
  if (!apiKey) return showError('Enter an API key: the box below says where one comes from.');
  watchState();
  const tables = splitList($('tables').value);
  if (tables.length === 0) return showError('Enter at least one table to see live events.');
  opened = false;
  client = new CdcClient({ url: BASE, apiKey, tables, onEvent, onState, onError }).connect();
});

$('disconnect').addEventListener('click', disconnect);

$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  if (!paused) {
    const rows = held;
    held = [];
    $('waiting').textContent = '';
    rows.forEach(show);
  }
});

$('clear').addEventListener('click', () => {
  events.replaceChildren();
  held = [];
  $('waiting').textContent = '';
  $('detail').textContent = 'Select an event to see it whole.';
});

$('filter').addEventListener('input', () => {
  query = $('filter').value.trim().toLowerCase();
  for (const row of events.rows) row.hidden = !matches(row);
});

events.addEventListener('click', (e) => {
  const row = e.target.closest('tr[data-id]');
  if (row) select(row);
});
events.addEventListener('keydown', (e) => {
  if ((e.key === 'Enter' || e.key === ' ') && e.target.matches('tr[data-id]')) {
    e.preventDefault();
    select(e.target);
  }
});

// --- Administration ---

// The key's own record (GET /v1/keys/self, any valid key) says which views it may use, so that the console
// never makes a call its key may not (no 403 in the browser's console); /v1/state, polled, what this instance does.
async function watchState() {
  clearInterval(stateTimer);
  stateTimer = null;
  let self;
  try {
    self = await api('GET', 'v1/keys/self');
  } catch (err) {
    showError(describe(err));
    $('hint').hidden = false;
    showRole(null);
    return;
  }
  $('state-key').textContent = self.admin ? `${self.id} (admin)` : `${self.id}: ${self.tables.join(', ')}`;
  showRole(self.admin ? 'admin' : 'user');
  const poll = () => api('GET', 'v1/state').then(showState, (err) => showError(describe(err)));
  poll();
  stateTimer = setInterval(poll, STATE_EVERY_MS);
}

function showState(state) {
  const { websocket, sse } = state.connections;
  $('state-connections').textContent = `${websocket + sse} (${websocket} WebSocket, ${sse} SSE)`;
  $('state-subscriptions').textContent = state.subscriptions;
  const listener = state.listener;
  $('state-listener').textContent = listener.connected
    ? `connected${listener.last_event_id ? `, last event ${listener.last_event_id}` : ''}`
    : `down (${listener.reconnects} reconnects)`;
  $('state-listener').dataset.connected = String(listener.connected);
  $('state-lag').textContent = `${Math.round(state.lag_ms)} ms`;
  $('state-queued').textContent = state.queued_events;
  $('summary').hidden = false;
}

function showRole(role) {
  $('tab-subscriptions').hidden = !role;
  $('tab-keys').hidden = $('tab-captures').hidden = role !== 'admin';
  if ($(`tab-${currentTab}`).hidden) selectTab('live');
  else if (currentTab !== 'live') run(() => refresh(currentTab));
}

// --- The chart: events per second and their latency, the last minute ---

function record(latency) {
  const t = Math.floor(Date.now() / 1000);
  let last = seconds.at(-1);
  if (!last || last.t !== t) {
    seconds.push(last = { t, count: 0, latencies: [] });
    seconds = seconds.filter((s) => s.t > t - CHART_SECONDS);
  }
  last.count++;
  last.latencies.push(latency);
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function drawChart() {
  const canvas = $('chart');
  const now = Math.floor(Date.now() / 1000);
  const slots = Array.from({ length: CHART_SECONDS }, (_, i) => {
    const s = seconds.find((x) => x.t === now - CHART_SECONDS + 1 + i);
    return { count: s?.count ?? 0, latency: s ? median(s.latencies) : null };
  });
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(300, canvas.clientWidth) * ratio;
  const height = 120 * ratio;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const g = canvas.getContext('2d');
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  g.clearRect(0, 0, width, height);
  const pad = 6 * ratio;
  const plot = height - 2 * pad;
  const step = (width - 2 * pad) / CHART_SECONDS;
  const maxRate = Math.max(1, ...slots.map((s) => s.count));
  const maxLatency = Math.max(1, ...slots.map((s) => s.latency ?? 0));
  g.fillStyle = color('--accent');
  g.globalAlpha = 0.35;
  slots.forEach((s, i) => {
    const h = (s.count / maxRate) * plot;
    g.fillRect(pad + i * step + 1, pad + plot - h, Math.max(1, step - 2), h);
  });
  g.globalAlpha = 1;
  g.strokeStyle = color('--warn');
  g.lineWidth = 2 * ratio;
  g.beginPath();
  let drawing = false;
  slots.forEach((s, i) => {
    if (s.latency === null) { drawing = false; return; }
    const x = pad + (i + 0.5) * step;
    const y = pad + plot - (s.latency / maxLatency) * plot;
    if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
    drawing = true;
  });
  g.stroke();
  g.fillStyle = color('--muted');
  g.font = `${11 * ratio}px system-ui, sans-serif`;
  g.textAlign = 'left';
  g.fillText(`max ${maxRate}/s`, pad, pad + 10 * ratio);
  g.textAlign = 'right';
  g.fillText(`max ${maxLatency} ms`, width - pad, pad + 10 * ratio);
  const last = slots.at(-2); // the last whole second
  $('chart-rate').textContent = last.count;
  $('chart-latency').textContent = last.latency ?? '–';
  canvas.dataset.events = String(slots.reduce((sum, s) => sum + s.count, 0));
}

setInterval(drawChart, 1000);

function selectTab(name) {
  currentTab = name;
  for (const tab of ['live', ...Object.keys(VIEWS)]) {
    $(`tab-${tab}`).setAttribute('aria-selected', String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name !== 'live') run(() => refresh(name));
}

async function refresh(name) {
  const view = VIEWS[name];
  const items = await api('GET', view.path);
  $(name).replaceChildren(...items.map((item) => {
    const id = view.id(item);
    const row = document.createElement('tr');
    row.dataset.id = id;
    for (const text of view.cells(item)) row.insertCell().textContent = text;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'delete';
    remove.textContent = 'Delete';
    remove.setAttribute('aria-label', `Delete ${id}`);
    remove.addEventListener('click', () => run(async () => {
      await api('DELETE', `${view.path}/${encodeURIComponent(id)}`);
      await refresh(name);
    }));
    row.insertCell().append(remove);
    return row;
  }));
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  run(async () => {
    const expires = $('key-expires').value; // local time, from datetime-local
    const created = await api('POST', 'v1/keys', {
      name: $('key-name').value.trim(),
      tables: splitList($('key-tables').value),
      admin: $('key-admin').checked,
      expires_at: expires ? new Date(expires).toISOString() : null,
    });
    $('new-key-value').textContent = created.key;
    $('new-key').hidden = false;
    $('key-form').reset();
    await refresh('keys');
  });
});

$('capture-form').addEventListener('submit', (e) => {
  e.preventDefault();
  run(async () => {
    await api('POST', 'v1/captures', {
      table: $('capture-table').value.trim(),
      exclude_columns: splitList($('capture-exclude').value),
    });
    $('capture-form').reset();
    await refresh('captures');
  });
});

for (const tab of ['live', ...Object.keys(VIEWS)]) $(`tab-${tab}`).addEventListener('click', () => selectTab(tab));
for (const button of document.querySelectorAll('[data-refresh]')) {
  button.addEventListener('click', () => run(() => refresh(button.dataset.refresh)));
}

// --- Helpers ---

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey}` };
  if (body) headers['Content-Type'] = 'application/json';
  const response = await fetch(new URL(path, BASE), { method, headers, body: body && JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw Object.assign(new Error(data?.message ?? `HTTP ${response.status}`), { status: response.status, code: data?.code });
  }
  return data;
}

async function run(action) {
  try {
    await action();
  } catch (err) {
    showError(describe(err));
  }
}

const describe = (err) => (err.code ? `${err.code}: ${err.message}` : err.message);
const showError = (text) => { $('error').textContent = text; };
const splitList = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

const linked = linkedConnection();
$('api-key').value = linked?.key ?? sessionStorage.getItem(STORED_KEY) ?? '';
$('tables').value = linked?.tables ?? sessionStorage.getItem(STORED_TABLES) ?? '';
if (linked) $('connect-form').requestSubmit();
else $('hint').hidden = Boolean($('api-key').value);
drawChart();

// The key and tables a link carries, removed from the address bar; null when it carries no key.
function linkedConnection() {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  const from = fragment.has('key') ? fragment : query.has('key') ? query : null;
  if (!from) return null;
  const found = { key: from.get('key'), tables: from.get('tables') ?? '' };
  for (const params of [query, fragment]) {
    params.delete('key');
    params.delete('tables');
  }
  const rest = (sign, params) => (String(params) ? sign + params : '');
  history.replaceState(history.state, '', location.pathname + rest('?', query) + rest('#', fragment));
  return found;
}
