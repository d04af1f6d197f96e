// Self-test of the load generator's HTTP/SSE client parser: `node bench/selftest.mjs`.
// Feeds chunked and identity (HTTP/1.0-style) responses split at every possible byte boundary
// and checks the seqs seen, including CR / CRLF line endings and undispatched trailing events.

import assert from 'node:assert/strict';
import { SseClient } from './lib/sse-client.mjs';

const events = (from, to, eol = '\n') => {
  let s = `:ok${eol}${eol}event: stream-open${eol}data:${eol}${eol}`;
  for (let i = from; i <= to; i++)
    s += `id: ${i}${eol}event: tick${eol}data: {"seq":${i},"pad":"xx"}${eol}${eol}`;
  return s;
};

function chunked(body, pieces) {
  let out = '';
  let i = 0;
  for (const len of pieces) {
    const part = body.slice(i, i + len);
    if (!part) break;
    out += `${Buffer.byteLength(part).toString(16)};ext=1\r\n${part}\r\n`;
    i += len;
  }
  if (i < body.length) out += `${Buffer.byteLength(body.slice(i)).toString(16)}\r\n${body.slice(i)}\r\n`;
  return `${out}0\r\n\r\n`;
}

function feed(wire, split) {
  const seen = [];
  const c = new SseClient((_c, seq) => seen.push(seq));
  const buf = Buffer.from(wire, 'latin1');
  for (let i = 0; i < buf.length; i += split) c.push(buf.subarray(i, i + split));
  c.end();
  return { c, seen };
}

const head = (te) =>
  `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n${te ? 'Transfer-Encoding: chunked\r\n' : 'Connection: close\r\n'}\r\n`;

let cases = 0;
for (const eol of ['\n', '\r\n', '\r']) {
  const body = events(1, 20, eol);
  for (const split of [1, 2, 3, 7, 64, 100000]) {
    // chunked, with chunk boundaries in odd places
    const w1 = head(true) + chunked(body, [5, 1, 33, 2, 200]);
    const r1 = feed(w1, split);
    assert.equal(r1.c.protocolError, '', `chunked eol=${JSON.stringify(eol)} split=${split}`);
    assert.deepEqual(
      r1.seen,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(r1.c.lost + r1.c.reordered, 0);
    assert.equal(r1.c.ended, true);
    // identity body (HTTP/1.0 style: runs until close)
    const r2 = feed(head(false) + body, split);
    assert.deepEqual(
      r2.seen,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    cases += 2;
  }
}

// an event without its terminating blank line is never dispatched
{
  const r = feed(`${head(false)}data: {"seq":1}\n\ndata: {"seq":2}\n`, 5);
  assert.deepEqual(r.seen, [1]);
  cases++;
}
// gaps and reordering are counted
{
  const r = feed(`${head(false)}data: {"seq":1}\n\ndata: {"seq":3}\n\ndata: {"seq":2}\n\n`, 1000);
  assert.deepEqual(r.seen, [1, 3, 2]);
  assert.equal(r.c.lost, 1);
  assert.equal(r.c.reordered, 1);
  cases++;
}
// a non-200 head and a broken chunk framing are reported
{
  const r = feed('HTTP/1.1 406 Not Acceptable\r\nContent-Length: 0\r\n\r\n', 1000);
  assert.equal(r.c.status, 406);
  const b = feed(`${head(true)}zz\r\nxx\r\n`, 1000);
  assert.notEqual(b.c.protocolError, '');
  cases += 2;
}
console.log(`sse-client self-test: ${cases} cases ok`);
