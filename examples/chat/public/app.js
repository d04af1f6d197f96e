// The chat page: log in, pick a room, and follow it with the typed browser client.
// All text from the network is inserted with textContent.
import { connect } from '/client.js';
import { timeElement } from '/shared/time.js';

/**
 * The events of a room stream, as the server publishes them. In TypeScript this is the map you
 * pass to both sides: `events<ChatEvents>()` and `connect<ChatEvents>(...)`.
 * @typedef {{
 *   message: { from: string, text: string, at: string },
 *   'presence-join': { id: string },
 *   'presence-leave': { id: string },
 * }} ChatEvents
 */

const $ = (id) => document.getElementById(id);

/** @type {import('express-eventstream/client').EventStreamClient<ChatEvents> | undefined} */
let client;
let currentRoom;
/** Users with a stream open on the room, across every tab and process. */
const online = new Set();

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

function setStatus(state) {
  $('status').textContent = state;
  $('status').dataset.state = state;
}

function showMessage({ from, text, at }) {
  const li = document.createElement('li');
  li.dataset.from = from;
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = from;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(timeElement(new Date(at)), who, body);
  $('messages').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function openRoom(room) {
  client?.close();
  currentRoom = room;
  $('room-name').textContent = `# ${room}`;
  $('messages').replaceChildren();
  online.clear();
  setOnline(online);
  $('room-error').hidden = true;
  $('message-form').hidden = false;
  $('send-result').textContent = '';
  for (const button of $('rooms').querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.room === room));
  }
  // persist: false: a chat shows what arrives while you are in the room; resuming after a
  // reload would replay only the tail of the conversation into an empty page.
  client = connect(`rooms/${encodeURIComponent(room)}/events`, {
    persist: false,
    on: {
      message: showMessage,
      'presence-join': ({ id }) => setOnline(online.add(id)),
      'presence-leave': ({ id }) => {
        online.delete(id);
        setOnline(online);
      },
    },
    onStateChange: (state) => {
      setStatus(state);
      if (state === 'open') refreshOnline(room);
    },
    onError: (error) => {
      // `forbidden` for rooms you are not in; the client has stopped and will not retry.
      $('room-error').textContent =
        error.condition === 'forbidden'
          ? `You are not a member of ${room} (stream\u2011error: forbidden).`
          : `${error.condition}: ${error.text}`;
      $('room-error').dataset.condition = error.condition;
      $('room-error').hidden = false;
      $('message-form').hidden = true;
    },
  });
  setStatus(client.state);
}

/** Who is in the room: asked each time the stream (re)opens, kept current by its events. */
function refreshOnline(room) {
  fetch(`rooms/${encodeURIComponent(room)}/presence`)
    .then((res) => (res.ok ? res.json() : { online: [] }))
    .then(({ online: users }) => {
      if (room !== currentRoom) return;
      online.clear();
      for (const user of users) online.add(user);
      setOnline(online);
    });
}

function setOnline(users) {
  const list = $('online');
  list.replaceChildren(
    ...[...users].sort().map((user) => {
      const li = document.createElement('li');
      li.textContent = user;
      return li;
    }),
  );
}

function showRooms(rooms) {
  const list = $('rooms');
  list.replaceChildren();
  for (const { name, member } of rooms) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.room = name;
    button.append(`# ${name}`);
    if (!member) {
      const lock = document.createElement('span');
      lock.className = 'lock';
      lock.textContent = ' · no access';
      button.append(lock);
    }
    button.addEventListener('click', () => openRoom(name));
    li.append(button);
    list.append(li);
  }
}

async function refresh() {
  const session = await api('session');
  client?.close();
  client = undefined;
  const loggedIn = session.user !== null;
  $('login-form').hidden = loggedIn;
  $('whoami').hidden = !loggedIn;
  $('chat').hidden = !loggedIn;
  if (!loggedIn) {
    $('login-user').replaceChildren(
      ...session.users.map((user) => Object.assign(document.createElement('option'), { textContent: user })),
    );
    return;
  }
  $('user-name').textContent = session.user;
  showRooms(session.rooms);
  openRoom(new URLSearchParams(location.search).get('room') ?? 'general');
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await api('login', { user: $('login-user').value });
  await refresh();
});

$('logout').addEventListener('click', async () => {
  await api('logout', {});
  await refresh();
});

$('message-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('message-text');
  try {
    await api(`rooms/${encodeURIComponent(currentRoom)}/messages`, { text: input.value });
    input.value = '';
    $('send-result').textContent = '';
  } catch (err) {
    $('send-result').textContent = `Not sent: ${err.message}`;
  }
});

refresh().catch((err) => {
  document.body.append(
    Object.assign(document.createElement('p'), { className: 'alert', textContent: err.message }),
  );
});
