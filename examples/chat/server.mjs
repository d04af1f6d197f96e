// `npm run example:chat`: chat rooms with per-user authorization.
//
// - Log in as one of a few demo users: the server sets a session cookie signed with HMAC-SHA256
//   (node:crypto), so the user name in it cannot be forged.
// - Each room is its own channel, taken from the route: GET /rooms/:room/events subscribes to
//   `room:<room>` (the `channels` option), and `authorize` lets only the room's members in.
//   Anyone else gets `stream-error` with condition `forbidden`, and the browser client stops.
// - POST /rooms/:room/messages publishes a `message` event to the room, with the same check.
// - Presence: who is in the room now. Every room stream is a member (the user, from the session),
//   and asks for `presence-join` / `presence-leave`; GET /rooms/:room/presence (members only)
//   lists who is there when the page opens the room, the events keep the list current.
//
//   PORT         HTTP port (default 3001; 0 picks a free one)
//   HOST         address to listen on (default 127.0.0.1)
//   CHAT_SECRET  key that signs session cookies (default: random, so sessions end with the process)
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';
import { createExampleApp, runExample } from '../shared/serve.mjs';

/** Who may read and post in which room. A real app would keep this in its database. */
export const ROOMS = {
  general: ['alice', 'bob', 'carol'],
  ops: ['alice', 'carol'],
  random: ['bob', 'carol'],
};
export const USERS = ['alice', 'bob', 'carol'];
const MAX_MESSAGE_LENGTH = 500;
const COOKIE = 'chat_session';

const secret = process.env.CHAT_SECRET || randomBytes(32).toString('hex');

// --- Sessions: "<user>.<hmac(user)>" in an HttpOnly cookie --------------------------------------

function sign(user) {
  return createHmac('sha256', secret).update(`user:${user}`).digest('base64url');
}

function sessionCookie(user) {
  return `${user}.${sign(user)}`;
}

/** The logged-in user of a request, or undefined (no cookie, or a forged or stale one). */
function userOf(req) {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name !== COOKIE) continue;
    const value = decodeURIComponent(rest.join('='));
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const user = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(sign(user));
    if (given.length === expected.length && timingSafeEqual(given, expected) && USERS.includes(user)) {
      return user;
    }
    return undefined;
  }
  return undefined;
}

function isMember(user, room) {
  return user !== undefined && Object.hasOwn(ROOMS, room) && ROOMS[room].includes(user);
}

// --- The app ------------------------------------------------------------------------------------

// Presence on the room channels: a user with two tabs open is one member with two connections.
const events = createEvents({ presence: { channels: ['room:*'] } });
events.on('error', (err) => console.error(`events error: ${err.code ?? ''} ${err.message}`));

const roomChannel = (room) => `room:${room}`;

const app = createExampleApp(fileURLToPath(new URL('./public/', import.meta.url)));
app.use(express.json({ limit: '4kb' }));

app.post('/login', (req, res) => {
  const user = req.body?.user;
  if (typeof user !== 'string' || !USERS.includes(user)) {
    res.status(400).json({ error: `user must be one of ${USERS.join(', ')}` });
    return;
  }
  res.cookie(COOKIE, sessionCookie(user), { httpOnly: true, sameSite: 'strict', path: '/' });
  res.json({ user });
});

app.post('/logout', (_req, res) => {
  res.clearCookie(COOKIE, { path: '/' });
  res.status(204).end();
});

// Every room is listed, with whether you are a member: the page lets you try the others too.
app.get('/session', (req, res) => {
  const user = userOf(req);
  const rooms = Object.keys(ROOMS).map((name) => ({ name, member: isMember(user, name) }));
  res.json({ user: user ?? null, users: USERS, rooms });
});

// One channel per room, from the route; only members may subscribe.
app.get(
  '/rooms/:room/events',
  eventstream({
    events,
    channels: (req) => [roomChannel(req.params.room)],
    authorize: (req) => isMember(userOf(req), req.params.room),
    presence: (req) => ({ id: userOf(req), events: true }),
  }),
);

app.get('/rooms/:room/presence', async (req, res) => {
  const { room } = req.params;
  if (!isMember(userOf(req), room)) {
    res.status(403).json({ error: 'members only' });
    return;
  }
  const { members, connections } = await events.presence(roomChannel(room));
  res.json({ online: members.map((m) => m.id).sort(), connections });
});

app.post('/rooms/:room/messages', async (req, res) => {
  const user = userOf(req);
  const { room } = req.params;
  if (user === undefined) {
    res.status(401).json({ error: 'log in first' });
    return;
  }
  if (!isMember(user, room)) {
    res.status(403).json({ error: `${user} is not a member of ${room}` });
    return;
  }
  const text = typeof req.body?.text === 'string' ? req.body.text.trim() : '';
  if (text === '' || text.length > MAX_MESSAGE_LENGTH) {
    res.status(400).json({ error: `text must be 1 to ${MAX_MESSAGE_LENGTH} characters` });
    return;
  }
  try {
    await events.publish(roomChannel(room), {
      event: 'message',
      data: { from: user, text, at: new Date().toISOString() },
    });
  } catch (err) {
    console.error(`publish failed: ${err.message}`);
    res.status(503).json({ error: 'not published; try again' });
    return;
  }
  res.status(201).json({ ok: true });
});

// Malformed JSON and oversized bodies: a short JSON answer instead of an HTML stack page.
app.use((err, _req, res, _next) => {
  const status = Number.isInteger(err?.status) && err.status >= 400 && err.status < 500 ? err.status : 500;
  res.status(status).json({ error: status < 500 ? err.message : 'internal error' });
});

await runExample(app, { name: 'chat example', defaultPort: 3001, onClose: () => events.close() });
