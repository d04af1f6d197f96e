// `npm run example:token-stream`: an answer streamed token by token, as AI chat apps do, that
// survives a dropped connection and a page reload without repeating or losing a token.
//
// - POST /answers creates an answer and its channel `answer:<id>`; nothing is generated yet.
// - The page subscribes to that channel, and once the server confirms (stream-open) it calls
//   POST /answers/:id/start. Subscribing first means the first token cannot be published before
//   anyone listens.
// - Every token is an event with an id, kept in the history. When the connection drops, the
//   browser reconnects with Last-Event-ID; when the page reloads, the browser client resumes from
//   the id it kept in sessionStorage. Either way the server replays exactly what was missed.
//
//   PORT            HTTP port (default 3002; 0 picks a free one)
//   HOST            address to listen on (default 127.0.0.1)
//   TOKEN_DELAY_MS  time between tokens (default 90)
//   EXAMPLE_TEST_HOOKS=1  adds POST /test/drop, which cuts every open stream (used by the tests)
import { fileURLToPath } from 'node:url';
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';
import { createExampleApp, intFromEnv, runExample } from '../shared/serve.mjs';
import { ANSWER_TEXT, tokenize } from './answer.mjs';

const TOKEN_DELAY_MS = intFromEnv('TOKEN_DELAY_MS', 90, { min: 1, max: 10_000 });
const MAX_ANSWERS = 100;

// The history keeps 1,000 events per channel: far more than one answer's tokens.
const events = createEvents();
events.on('error', (err) => console.error(`events error: ${err.code ?? ''} ${err.message}`));

/** id -> { question, started, done } */
const answers = new Map();
let nextId = 1;
const channelOf = (id) => `answer:${id}`;

async function generate(id) {
  const tokens = tokenize(ANSWER_TEXT);
  const channel = events.channel(channelOf(id));
  for (let i = 0; i < tokens.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, TOKEN_DELAY_MS));
    if (events.closed) return;
    await channel.publish({ event: 'token', data: { i, text: tokens[i] } });
  }
  await channel.publish({ event: 'done', data: { tokens: tokens.length } });
  answers.get(id).done = true;
}

const app = createExampleApp(fileURLToPath(new URL('./public/', import.meta.url)));
app.use(express.json({ limit: '4kb' }));

app.post('/answers', (req, res) => {
  const question = typeof req.body?.question === 'string' ? req.body.question.trim().slice(0, 500) : '';
  if (question === '') {
    res.status(400).json({ error: 'ask a question' });
    return;
  }
  const id = String(nextId++);
  answers.set(id, { question, started: false, done: false });
  // A demo keeps only the latest answers in memory.
  if (answers.size > MAX_ANSWERS) answers.delete(answers.keys().next().value);
  res.status(201).json({ id, channel: channelOf(id) });
});

app.get('/answers/:id', (req, res) => {
  const answer = answers.get(req.params.id);
  if (answer === undefined) res.status(404).json({ error: 'no such answer' });
  else res.json({ id: req.params.id, channel: channelOf(req.params.id), ...answer });
});

// Idempotent: the page calls it on every stream-open, and only the first call starts.
app.post('/answers/:id/start', (req, res) => {
  const answer = answers.get(req.params.id);
  if (answer === undefined) {
    res.status(404).json({ error: 'no such answer' });
    return;
  }
  if (!answer.started) {
    answer.started = true;
    generate(req.params.id).catch((err) => console.error(`answer ${req.params.id} failed: ${err.message}`));
  }
  res.status(202).json({ started: true });
});

// Open streams by response, so the test hook can cut them from the server side.
const streams = new Set();
app.get(
  '/events',
  (_req, res, next) => {
    streams.add(res);
    res.once('close', () => streams.delete(res));
    next();
  },
  // retry: the browser waits 500 ms (instead of its default 3 s) before reconnecting.
  eventstream({ events, retry: 500 }),
);

if (process.env.EXAMPLE_TEST_HOOKS === '1') {
  app.post('/test/drop', (_req, res) => {
    const count = streams.size;
    for (const stream of streams) stream.socket?.destroy();
    res.json({ dropped: count });
  });
}

await runExample(app, { name: 'token stream example', defaultPort: 3002, onClose: () => events.close() });
