// The token-stream page, reading a response stream with a plain EventSource. A reload is
// lossless because the page keeps, in one sessionStorage entry written in the same handler, the
// text it has shown and the id of the last chunk in it; after a reload it opens the stream with
// `?lastEventId=<that id>` and gets exactly the chunks after it (a new page's EventSource cannot
// send the Last-Event-ID header). A dropped connection needs nothing: EventSource reconnects
// with the header by itself. The answer's id is in the page URL (?answer=<id>).

const $ = (id) => document.getElementById(id);
const textEl = $('answer-text');
let source;

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
    if (saved && typeof saved.text === 'string' && typeof saved.chunks === 'number') return saved;
  } catch {
    // Unreadable storage: start from what the server sends.
  }
  return { text: '', chunks: 0, lastId: '', ending: '' };
}

function saveAnswer(id, answer) {
  try {
    sessionStorage.setItem(`answer:${id}`, JSON.stringify(answer));
  } catch {
    // Storage full or disabled: a reload would show only the rest of the answer.
  }
}

function render(answer) {
  textEl.textContent = answer.text;
  textEl.dataset.done = String(answer.ending !== '');
  $('token-count').textContent = String(answer.chunks);
  $('stop').hidden = answer.ending !== '';
  if (answer.ending !== '') setState(answer.ending === 'done' ? 'complete' : answer.ending);
}

function setState(state) {
  $('status').textContent = state;
  $('status').dataset.state = state === 'open' || state === 'complete' ? 'open' : state;
}

function showAnswer(id, question) {
  source?.close();
  $('answer').hidden = false;
  $('answer-question').textContent = question;
  $('answer-error').hidden = true;
  const answer = savedAnswer(id);
  render(answer);
  if (answer.ending !== '') return;

  const url = new URL(`streams/${encodeURIComponent(id)}`, location.href);
  if (answer.lastId !== '') url.searchParams.set('lastEventId', answer.lastId);
  source = new EventSource(url);
  let opens = 0;
  source.onopen = () => {
    opens++;
    setState('open');
    if (opens > 1 || answer.lastId !== '')
      $('resume-note').textContent = `· resumed after ${answer.chunks} tokens`;
  };
  source.onmessage = (event) => {
    answer.text += event.data;
    answer.chunks++;
    answer.lastId = event.lastEventId;
    saveAnswer(id, answer);
    render(answer);
  };
  source.addEventListener('end', (event) => {
    const { status, message } = JSON.parse(event.data);
    answer.ending = status;
    saveAnswer(id, answer);
    render(answer);
    source.close();
    if (status !== 'done' && status !== 'stopped') showError(new Error(message ?? `the answer ${status}`));
  });
  source.onerror = () => {
    // EventSource retries by itself; CLOSED means the server refused (e.g. 404: the stream expired).
    if (source.readyState === EventSource.CLOSED && answer.ending === '') {
      setState('closed');
      showError(new Error('the server no longer has this answer'));
    } else setState('connecting');
  };
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

// Stop the generation (on whichever process produces it); readers get `end` with `stopped`.
$('stop').addEventListener('click', async () => {
  const id = new URLSearchParams(location.search).get('answer');
  if (id === null) return;
  const res = await fetch(`streams/${encodeURIComponent(id)}/stop`, { method: 'POST' });
  if (!res.ok && res.status !== 409) showError(new Error(`stop: HTTP ${res.status}`));
});

const resumeId = new URLSearchParams(location.search).get('answer');
if (resumeId !== null) {
  api(`answers/${encodeURIComponent(resumeId)}`)
    .then((answer) => showAnswer(resumeId, answer.question))
    .catch(showError);
}
