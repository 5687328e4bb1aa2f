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
 *                     any valid key, keys and captures for an admin key only
 *   #events           tbody, newest first, at most 500 rows: one tr[data-id=<event id>] per event
 *                     (cells id, table, operation, created_at, latency ms) and tr.note rows,
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

// --- Live events ---

function onEvent(event) {
  const row = document.createElement('tr');
  row.dataset.id = event.id;
  row.tabIndex = 0;
  // Date.parse is only sure of three fractional digits; created_at has six.
  const latency = Date.now() - Date.parse(event.created_at.replace(/(\.\d{3})\d+/, '$1'));
  for (const text of [event.id, event.table, event.operation, event.created_at, latency]) {
    row.insertCell().textContent = text;
  }
  row.lastChild.className = 'num';
  rowEvents.set(row, { event, text: null });
  show(row);
}

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
  cell.colSpan = 5;
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
}

$('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  disconnect();
  apiKey = $('api-key').value.trim();
  sessionStorage.setItem(STORED_KEY, apiKey);
  sessionStorage.setItem(STORED_TABLES, $('tables').value);
  showError('');
  $('new-key').hidden = true;
  detectRole();
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

// GET /v1/keys answers 200 to an admin key and 403 to any other valid key.
async function detectRole() {
  let role = 'admin';
  try {
    await api('GET', 'v1/keys');
  } catch (err) {
    role = err.status === 403 ? 'user' : null;
    if (!role) showError(describe(err));
  }
  $('tab-subscriptions').hidden = !role;
  $('tab-keys').hidden = $('tab-captures').hidden = role !== 'admin';
  if ($(`tab-${currentTab}`).hidden) selectTab('live');
  else if (currentTab !== 'live') run(() => refresh(currentTab));
}

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
