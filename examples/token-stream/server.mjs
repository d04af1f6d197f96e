// `npm run example:token-stream`: an answer streamed token by token, as AI chat apps do, on the
// response-stream API, surviving a dropped connection and a page reload without repeating or
// losing a token.
//
// - POST /answers opens a response stream (`events.stream(id)`) and starts generating into it:
//   one `append()` per token, then `end()`. Nobody has to listen first: the stream's history
//   keeps every chunk, and a reader gets the answer from its start.
// - GET /streams/:id reads it (`streamHandler()`): the chunks as `message` events with ids, then
//   one `end` event. A dropped connection reconnects with Last-Event-ID; a reloaded page opens
//   /streams/:id?lastEventId=<the last id it showed> (kept in sessionStorage).
// - POST /streams/:id/stop stops the generation: the producer's `signal` aborts, and readers get
//   `end` with status `stopped`. Closing the page does not stop it.
//
// Without REDIS_URL the history is this process's memory: the answer survives drops and reloads,
// not a restart of this server. With REDIS_URL the streams live in Redis
// (`express-eventstream/redis`, needs `ioredis`): a restarted server (or any other process on that
// Redis) serves every chunk appended before a crash, and a reader of an answer whose producing
// process died gets `end` with status `lost` once the producer's heartbeat expires (5 heartbeats,
// about 5 s), instead of waiting forever. The questions list (GET /answers/:id) stays in memory.
//
//   REDIS_URL       e.g. redis://127.0.0.1:6379 (optional; memory when unset)
//   PORT            HTTP port (default 3002; 0 picks a free one)
//   HOST            address to listen on (default 127.0.0.1)
//   TOKEN_DELAY_MS  time between tokens (default 90)
//   EXAMPLE_TEST_HOOKS=1  adds POST /test/drop, which cuts every open stream (used by the tests)
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { events as createEvents, streamHandler } from 'express-eventstream';
import { createExampleApp, intFromEnv, runExample } from '../shared/serve.mjs';
import { ANSWER_TEXT, tokenize } from './answer.mjs';

const TOKEN_DELAY_MS = intFromEnv('TOKEN_DELAY_MS', 90, { min: 1, max: 10_000 });
const MAX_ANSWERS = 100;

/** The engine: Redis when REDIS_URL is set (imported only then), this process's memory otherwise. */
async function engine() {
  const url = process.env.REDIS_URL;
  if (url === undefined || url === '') return {};
  const { redis } = await import('express-eventstream/redis');
  return redis({ url, namespace: 'token-stream' });
}

const events = createEvents(await engine());
events.on('error', (err) => console.error(`events error: ${err.code ?? ''} ${err.message}`));

/** id -> question (a demo keeps only the latest answers' questions in memory). */
const questions = new Map();

/** The stand-in model: one token every TOKEN_DELAY_MS until the answer is done or stopped. */
async function generate(stream) {
  for (const token of tokenize(ANSWER_TEXT)) {
    await new Promise((resolve) => setTimeout(resolve, TOKEN_DELAY_MS));
    if (stream.signal.aborted) return; // stopped (or the server is closing): no more tokens
    await stream.append(token);
  }
  await stream.end();
}

const app = createExampleApp(fileURLToPath(new URL('./public/', import.meta.url)));
app.use(express.json({ limit: '4kb' }));

app.post('/answers', (req, res) => {
  const question = typeof req.body?.question === 'string' ? req.body.question.trim().slice(0, 500) : '';
  if (question === '') {
    res.status(400).json({ error: 'ask a question' });
    return;
  }
  const id = randomUUID();
  questions.set(id, question);
  if (questions.size > MAX_ANSWERS) questions.delete(questions.keys().next().value);
  const stream = events.stream(id);
  generate(stream).catch((err) => {
    // A stop makes a pending append() reject: that is the generation ending, not a failure.
    if (!stream.signal.aborted) console.error(`answer ${id} failed: ${err.message}`);
  });
  res.status(201).json({ id });
});

app.get('/answers/:id', (req, res) => {
  const question = questions.get(req.params.id);
  if (question === undefined) res.status(404).json({ error: 'no such answer' });
  else res.json({ id: req.params.id, question });
});

// Open streams by response, so the test hook can cut them from the server side.
const open = new Set();
app.use(
  '/streams',
  (_req, res, next) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    next();
  },
  // Reads GET /streams/:id (resuming after Last-Event-ID or ?lastEventId=) and takes
  // POST /streams/:id/stop; the id is the path's last segment. A dropped answer resumes after
  // 300-1000 ms (each stream draws its own delay), not EventSource's default 3 s.
  streamHandler({ events, retry: { minDelayMs: 300, maxDelayMs: 1000 } }),
);

if (process.env.EXAMPLE_TEST_HOOKS === '1') {
  app.post('/test/drop', (_req, res) => {
    const count = open.size;
    for (const stream of open) stream.socket?.destroy();
    res.json({ dropped: count });
  });
}

await runExample(app, { name: 'token stream example', defaultPort: 3002, onClose: () => events.close() });
