// The token-stream page. Two things make a reload lossless:
// 1. the browser client keeps the id of the last event in sessionStorage and resumes after it;
// 2. this page keeps the tokens it has shown in sessionStorage, written in the same event
//    handler, so the page's text and the client's position always match.
// The answer's id is in the page URL (?answer=<id>), so a reload knows what to resume.
import { connect } from '/client.js';

/**
 * The events of an answer channel (the map you would pass to `events<AnswerEvents>()` and
 * `connect<AnswerEvents>()` in TypeScript).
 * @typedef {{ token: { i: number, text: string }, done: { tokens: number } }} AnswerEvents
 */

const $ = (id) => document.getElementById(id);
const textEl = $('answer-text');
let client;

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

/** What the page has shown of one answer, kept across reloads. */
function savedAnswer(id) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(`answer:${id}`) ?? 'null');
    if (saved && Array.isArray(saved.tokens)) return saved;
  } catch {
    // Unreadable storage: start from what the server sends.
  }
  return { tokens: [], done: false };
}

function saveAnswer(id, answer) {
  try {
    sessionStorage.setItem(`answer:${id}`, JSON.stringify(answer));
  } catch {
    // Storage full or disabled: a reload would show only the rest of the answer.
  }
}

function render(answer) {
  textEl.textContent = answer.tokens.join('');
  textEl.dataset.done = String(answer.done);
  $('token-count').textContent = String(answer.tokens.length);
}

function showAnswer(id, question) {
  client?.close();
  $('answer').hidden = false;
  $('answer-question').textContent = question;
  $('answer-error').hidden = true;
  const answer = savedAnswer(id);
  render(answer);
  if (answer.done) {
    $('status').textContent = 'complete';
    $('status').dataset.state = 'open';
    return;
  }

  client = connect('events', {
    channels: [`answer:${id}`],
    on: {
      token: ({ i, text }) => {
        // Tokens carry their index: a gap or a repeat would be a bug worth showing.
        if (i !== answer.tokens.length) {
          textEl.dataset.problem = `expected token ${answer.tokens.length}, got ${i}`;
        }
        answer.tokens.push(text);
        saveAnswer(id, answer);
        render(answer);
      },
      done: () => {
        answer.done = true;
        saveAnswer(id, answer);
        render(answer);
        client.close();
      },
    },
    onOpen: ({ resumed, replayed }) => {
      if (resumed) $('resume-note').textContent = `· resumed, ${replayed} replayed`;
      // Subscribed: now the server may start (it starts once; later calls do nothing).
      if (!answer.done) api(`answers/${id}/start`, {}).catch(showError);
    },
    onStateChange: (state) => {
      $('status').textContent = state === 'closed' && answer.done ? 'complete' : state;
      $('status').dataset.state = state === 'closed' && answer.done ? 'open' : state;
    },
    onReset: () => showError(new Error('the server no longer has this answer')),
    onError: (error) => showError(new Error(`${error.condition}: ${error.text}`)),
  });
}

function showError(err) {
  $('answer-error').textContent = err.message;
  $('answer-error').hidden = false;
}

$('ask-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const question = $('question').value;
  try {
    const { id } = await api('answers', { question });
    history.replaceState(null, '', `?answer=${encodeURIComponent(id)}`);
    showAnswer(id, question);
  } catch (err) {
    showError(err);
  }
});

const resumeId = new URLSearchParams(location.search).get('answer');
if (resumeId !== null) {
  api(`answers/${encodeURIComponent(resumeId)}`)
    .then((answer) => showAnswer(resumeId, answer.question))
    .catch(showError);
}
