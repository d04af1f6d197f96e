// The demo's web UI: one EventSource, its status, a connection log and an event log.
// Every piece of text from the network or the URL is inserted with textContent, never as HTML.

const KNOWN_CHANNELS = ['clock', 'messages'];
const EVENT_TYPES = ['stream-open', 'time', 'message', 'stream-error', 'keep-alive', 'stream-reset'];
const MAX_LOG_ENTRIES = 200;

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const urlEl = $('events-url');
const lastIdEl = $('last-event-id');
const streamErrorEl = $('stream-error');
const connectionLog = $('connection-log');
const eventLog = $('event-log');
const otherChannels = $('other-channels');
const toggleButton = $('toggle-connection');
const channelBoxes = [...document.querySelectorAll('#channels-form input[type=checkbox][name=channel]')];

/** The current EventSource, the last event id it saw and the channels it was opened for. */
let source;
let lastEventId = '';
let lastChannels = '';

/** HH:MM:SS in the viewer's local time. */
function clockTime(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * A <time> element showing `date` (default: now) as local HH:MM:SS; the full ISO time is in its
 * datetime attribute and, as local date and time, in its tooltip.
 */
function timeElement(date = new Date()) {
  const time = document.createElement('time');
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  time.textContent = clockTime(date);
  return time;
}

function append(list, item) {
  list.prepend(item);
  while (list.children.length > MAX_LOG_ENTRIES) list.lastElementChild.remove();
}

/** Adds a line to the connection log; `kind` becomes a CSS class and a data attribute for tests. */
function logConnection(kind, text) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  // The time in its own column, so a long line wraps under its text, not under the time.
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = `${kind}: ${text}`;
  li.append(timeElement(), body);
  append(connectionLog, li);
}

function setStatus(state) {
  statusEl.textContent = state;
  statusEl.dataset.state = state;
  toggleButton.textContent = state === 'closed' ? 'Connect' : 'Disconnect';
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** stream-open of a resumed stream: how many missed events the server is replaying. */
function replayNote(data) {
  const replayed = parseJson(data)?.replayed;
  return typeof replayed === 'number' ? `resumed: ${replayed} missed event(s) replayed` : '';
}

/** A short human-readable form of an event's data: text, or a <time> for a clock tick. */
function summary(type, data) {
  const parsed = parseJson(data);
  if (type === 'time' && typeof parsed?.value === 'string' && !Number.isNaN(Date.parse(parsed.value))) {
    // The server's clock, shown like the arrival times; its ISO form stays in datetime.
    return timeElement(new Date(parsed.value));
  }
  if (type === 'message' && typeof parsed?.text === 'string') return parsed.text;
  if (type === 'stream-error' && typeof parsed?.text === 'string') return parsed.text;
  if (type === 'stream-reset' && Array.isArray(parsed?.channels)) {
    return `${parsed.reason}: missed events on ${parsed.channels.join(', ')} cannot be replayed; reload their state`;
  }
  return data;
}

/** Events still to come from the server's replay (announced by a resumed stream-open). */
let replayPending = 0;

/** Logs one event; `id` is the id the event itself carried (empty when it had none). */
function logEvent(event, id) {
  const li = document.createElement('li');
  li.dataset.type = event.type;
  li.className = `event event-${event.type}`;
  if (event.type === 'stream-open') {
    replayPending = parseJson(event.data)?.replayed ?? 0;
  } else if (replayPending > 0 && event.type !== 'keep-alive' && event.type !== 'stream-reset') {
    replayPending--;
    li.dataset.replayed = 'true';
    li.classList.add('replayed');
  }

  const time = timeElement();
  const body = document.createElement('span');
  body.className = 'body';
  const type = document.createElement('span');
  type.className = 'type';
  type.textContent = event.type;
  body.append(type);
  li.append(time, body);

  if (id) {
    const idEl = document.createElement('span');
    idEl.className = 'id';
    idEl.textContent = `#${id}`;
    body.append(' ', idEl);
  }
  if (li.dataset.replayed) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'replayed';
    body.append(' ', badge);
  }
  const text = event.type === 'stream-open' ? replayNote(event.data) : summary(event.type, event.data);
  if (text) {
    const data = document.createElement('span');
    data.className = 'data';
    data.append(text);
    body.append(' ', data);
  }
  append(eventLog, li);
}

/** The channels chosen in the form, in order, without duplicates. */
function selectedChannels() {
  const names = channelBoxes.filter((box) => box.checked).map((box) => box.value);
  for (const name of otherChannels.value.split(/[ \t]+/)) {
    if (name !== '' && !names.includes(name)) names.push(name);
  }
  return names;
}

function eventsUrl(channels) {
  const params = new URLSearchParams();
  for (const name of channels) params.append('channel', name);
  return `events/?${params}`;
}

/** Mirrors the channel choice into the page's own URL so a reload keeps it. */
function rememberChannels(channels) {
  const params = new URLSearchParams(location.search);
  params.delete('channel');
  for (const name of channels) params.append('channel', name);
  history.replaceState(null, '', `${location.pathname}?${params}`);
}

/** Shows the stream URL with break opportunities after `?` and `&` (narrow screens). */
function showUrl(url) {
  urlEl.replaceChildren();
  for (const part of url.split(/(?<=[?&])/)) urlEl.append(part, document.createElement('wbr'));
}

function disconnect(reason) {
  if (!source) return;
  source.close();
  source = undefined;
  setStatus('closed');
  logConnection('closed', reason);
}

/**
 * Opens a new EventSource for the chosen channels. With `resume`, and the same channels as
 * before, it asks the server to replay what was missed since the last event id
 * (`?lastEventId=`, the query form of the Last-Event-ID header).
 */
function connect({ resume = false } = {}) {
  disconnect('switching channels');
  streamErrorEl.hidden = true;
  streamErrorEl.textContent = '';

  const channels = selectedChannels();
  rememberChannels(channels);
  if (channels.length === 0) {
    urlEl.textContent = '';
    setStatus('closed');
    logConnection('closed', 'no channel selected; choose at least one');
    return;
  }

  let url = eventsUrl(channels);
  const resumeFrom = resume && lastChannels === url ? lastEventId : '';
  lastChannels = url;
  if (resumeFrom) url += `&${new URLSearchParams({ lastEventId: resumeFrom })}`;
  showUrl(url);
  const es = new EventSource(url);
  source = es;
  lastEventId = resumeFrom;
  lastIdEl.textContent = resumeFrom || '(none)';
  let opened = false;
  let failures = 0;
  setStatus('connecting');
  logConnection('connecting', resumeFrom ? `${url} (resuming after id ${resumeFrom})` : url);

  es.addEventListener('open', () => {
    if (source !== es) return;
    setStatus('open');
    if (!opened) logConnection('open', 'connected');
    else if (lastEventId) logConnection('reconnected', `resumed from id ${lastEventId}`);
    else logConnection('reconnected', 'no event id to resume from');
    opened = true;
    failures = 0;
  });

  es.addEventListener('error', () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // A non-200 answer or a wrong Content-Type: the browser gives up for good.
      source = undefined;
      setStatus('closed');
      logConnection('error', 'the server refused the stream; the browser will not reconnect');
      return;
    }
    failures += 1;
    setStatus('reconnecting');
    logConnection(
      'error',
      failures === 1 ? 'connection lost; reconnecting' : `reconnect attempt ${failures} failed`,
    );
  });

  for (const type of EVENT_TYPES) {
    es.addEventListener(type, (event) => {
      if (source !== es) return;
      // EventSource keeps the last id for events that carry none: a changed id is this event's own.
      let id = '';
      if (event.lastEventId && event.lastEventId !== lastEventId) {
        id = event.lastEventId;
        // stream-error's id (`error`) is a signal to the server, not a position to resume from.
        if (type !== 'stream-error') {
          lastEventId = id;
          lastIdEl.textContent = id;
        }
      }
      logEvent(event, id);
    });
  }

  es.addEventListener('stream-error', (event) => {
    if (source !== es) return;
    const parsed = parseJson(event.data);
    const text = typeof parsed?.text === 'string' ? parsed.text : event.data;
    const condition = typeof parsed?.condition === 'string' ? `${parsed.condition}: ` : '';
    streamErrorEl.textContent = `${condition}${text}`;
    streamErrorEl.hidden = false;
    // The server will not serve this request; do not let the browser retry it.
    disconnect('stream-error; will not reconnect');
  });
}

/** Applies `?channel=` from the page's URL, if any, to the form. */
function channelsFromPageUrl() {
  const wanted = new URLSearchParams(location.search).getAll('channel');
  if (wanted.length === 0) return;
  for (const box of channelBoxes) box.checked = wanted.includes(box.value);
  otherChannels.value = wanted.filter((name) => !KNOWN_CHANNELS.includes(name)).join(' ');
}

$('channels-form').addEventListener('change', () => connect());
$('channels-form').addEventListener('submit', (event) => {
  event.preventDefault();
  connect();
});
// A dropped network as EventSource lives it: the stream goes away, a retry a few seconds later
// resumes from the last id. (Closing the EventSource stands in for the network here.)
$('simulate-drop').addEventListener('click', () => {
  if (!source) return;
  disconnect('network dropped (simulated)');
  setStatus('reconnecting');
  setTimeout(() => connect({ resume: true }), 3000);
});
// An id from another epoch, as a client that was away longer than the history reaches back
// would send: the server answers stream-reset instead of replaying with a silent gap.
$('simulate-reset').addEventListener('click', () => {
  lastEventId = '0-1';
  lastChannels = eventsUrl(selectedChannels());
  connect({ resume: true });
});

toggleButton.addEventListener('click', () => {
  if (source) disconnect('closed by you');
  else connect({ resume: true });
});

$('message-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const input = $('message-text');
  const result = $('message-result');
  result.textContent = 'sending…';
  result.dataset.state = 'pending';
  try {
    const res = await fetch('messages/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: input.value }),
    });
    const text = (await res.text()).trim();
    result.textContent = res.ok ? 'sent' : `not sent (${res.status}): ${text}`;
    result.dataset.state = res.ok ? 'sent' : 'failed';
    if (res.ok) form.reset();
  } catch (err) {
    result.textContent = `not sent: ${err.message}`;
    result.dataset.state = 'failed';
  }
});

channelsFromPageUrl();
connect();
