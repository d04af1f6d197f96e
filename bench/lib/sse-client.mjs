// A raw HTTP/1.1 SSE client for the load generator: one instance per socket.
//
// It parses the response head, decodes the body (chunked transfer encoding, or an
// identity body that runs until the connection closes, as HTTP/1.0-style servers send),
// and parses the SSE stream (WHATWG rules: lines end in LF, CRLF or CR; an event is
// dispatched on a blank line; an event that is not terminated is never dispatched).
//
// Only what the benchmark needs is kept per event: the `seq` number found in the data
// (`"seq":<digits>`). Every dispatched event that carries a seq is checked against the
// previous one: anything but previous + 1 counts as lost (gap) or reordered/duplicated.
//
// The hot path avoids allocating per line: the decoded body is handled as a latin1 string
// (the bench data is ASCII) and fields are recognised with charCodeAt/startsWith.

const HEAD_END = Buffer.from('\r\n\r\n');

const S_HEAD = 0;
const S_CHUNK_SIZE = 1;
const S_CHUNK_DATA = 2;
const S_CHUNK_CRLF = 3;
const S_IDENTITY = 4;
const S_DONE = 5;

export class SseClient {
  /**
   * @param {(client: SseClient, seq: number, t: number) => void} onEvent called for each dispatched event with a seq (t: the data's send number, or -1)
   */
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.state = S_HEAD;
    /** @type {Buffer | null} */
    this.headBuf = null;
    this.status = 0;
    this.headers = /** @type {Record<string, string>} */ ({});
    this.chunked = false;
    this.chunkRemaining = 0;
    this.sizeLine = '';
    this.crlfRemaining = 0;
    // SSE parser state
    this.rest = ''; // incomplete line carried over
    this.pendingCR = false; // last decoded char was CR (a following LF belongs to it)
    this.pendingSeq = -1; // seq seen in a data line of the event being assembled
    this.pendingT = -1; // the sustained bench's send number, when the data carries one
    this.trackIds = false; // set to keep `lastId` (the reconnect-storm bench resumes with it)
    this.lastId = ''; // the SSE last event ID buffer
    // verification
    this.last = 0; // last seq received
    this.events = 0; // events with a seq received
    this.lost = 0; // events missing (sum of gaps)
    this.reordered = 0; // events that arrived at or below the last seq
    this.bodyBytes = 0;
    this.protocolError = '';
    this.ended = false;
  }

  get headComplete() {
    return this.state !== S_HEAD;
  }

  /** Feed bytes read from the socket. */
  push(buf) {
    let off = 0;
    if (this.state === S_HEAD) {
      const all = this.headBuf ? Buffer.concat([this.headBuf, buf]) : buf;
      const end = all.indexOf(HEAD_END);
      if (end < 0) {
        this.headBuf = all;
        if (all.length > 65536) this.fail('response head too large');
        return;
      }
      this.headBuf = null;
      this.parseHead(all.latin1Slice(0, end));
      if (this.state === S_DONE) return;
      buf = all;
      off = end + 4;
    }
    if (this.state === S_IDENTITY) {
      if (off < buf.length) this.body(buf.latin1Slice(off, buf.length));
      return;
    }
    // chunked: collect the decoded pieces of this read, parse them once
    let text = '';
    const len = buf.length;
    while (off < len && this.state !== S_DONE) {
      if (this.state === S_CHUNK_DATA) {
        const take = Math.min(this.chunkRemaining, len - off);
        text += buf.latin1Slice(off, off + take);
        off += take;
        this.chunkRemaining -= take;
        if (this.chunkRemaining === 0) {
          this.state = S_CHUNK_CRLF;
          this.crlfRemaining = 2;
        }
      } else if (this.state === S_CHUNK_CRLF) {
        const c = buf[off++];
        if ((this.crlfRemaining === 2 && c !== 13) || (this.crlfRemaining === 1 && c !== 10)) {
          this.fail('bad chunk terminator');
          return;
        }
        if (--this.crlfRemaining === 0) this.state = S_CHUNK_SIZE;
      } else {
        // S_CHUNK_SIZE: read up to LF
        const nl = buf.indexOf(10, off);
        if (nl < 0) {
          this.sizeLine += buf.latin1Slice(off, len);
          off = len;
          if (this.sizeLine.length > 1024) this.fail('chunk size line too long');
          break;
        }
        const line = this.sizeLine + buf.latin1Slice(off, nl);
        this.sizeLine = '';
        off = nl + 1;
        const size = Number.parseInt(line, 16); // stops at ';' (extensions) and '\r'
        if (!Number.isFinite(size) || size < 0) {
          this.fail(`bad chunk size line ${JSON.stringify(line)}`);
          return;
        }
        if (size === 0) {
          this.state = S_DONE; // last chunk: the stream ended
          this.ended = true;
        } else {
          this.chunkRemaining = size;
          this.state = S_CHUNK_DATA;
        }
      }
    }
    if (text.length > 0) this.body(text);
  }

  fail(msg) {
    if (!this.protocolError) this.protocolError = msg;
    this.state = S_DONE;
  }

  parseHead(head) {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) {
      this.fail(`bad status line ${JSON.stringify(lines[0])}`);
      return;
    }
    this.status = Number(m[1]);
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      const c = l.indexOf(':');
      if (c > 0) {
        const k = l.slice(0, c).trim().toLowerCase();
        const v = l.slice(c + 1).trim();
        this.headers[k] = this.headers[k] === undefined ? v : `${this.headers[k]}, ${v}`;
      }
    }
    const te = (this.headers['transfer-encoding'] ?? '').toLowerCase();
    this.chunked = te.split(',').some((t) => t.trim() === 'chunked');
    this.state = this.chunked ? S_CHUNK_SIZE : S_IDENTITY;
  }

  /** Called when the connection closed: an identity body ends here. */
  end() {
    this.ended = true;
  }

  /** SSE parsing of decoded body text. */
  body(text) {
    this.bodyBytes += text.length;
    let s = text;
    if (this.pendingCR) {
      // a CR ended the previous piece; a leading LF completes that CRLF
      this.pendingCR = false;
      if (s.charCodeAt(0) === 10) s = s.slice(1);
    }
    if (s.indexOf('\r') >= 0) {
      if (s.charCodeAt(s.length - 1) === 13) this.pendingCR = true;
      s = s.replace(/\r\n?/g, '\n');
    }
    if (this.rest.length > 0) {
      s = this.rest + s;
      this.rest = '';
    }
    let pos = 0;
    const len = s.length;
    for (;;) {
      const nl = s.indexOf('\n', pos);
      if (nl < 0) break;
      if (nl === pos) {
        // blank line: dispatch
        if (this.pendingSeq >= 0) {
          this.dispatch(this.pendingSeq, this.pendingT);
          this.pendingSeq = -1;
          this.pendingT = -1;
        }
      } else if (
        this.trackIds &&
        s.startsWith('id', pos) &&
        (nl === pos + 2 || s.charCodeAt(pos + 2) === 58)
      ) {
        // `id` or `id:value` (one optional space after the colon); WHATWG: an id with NUL is ignored
        let v = nl === pos + 2 ? '' : s.slice(pos + 3, nl);
        if (v.charCodeAt(0) === 32) v = v.slice(1);
        if (!v.includes('\0')) this.lastId = v;
      } else if (s.startsWith('data', pos)) {
        const k = s.indexOf('"seq":', pos);
        if (k >= 0 && k < nl) {
          let i = k + 6;
          let v = 0;
          let c = s.charCodeAt(i);
          let digits = 0;
          while (c >= 48 && c <= 57) {
            v = v * 10 + (c - 48);
            c = s.charCodeAt(++i);
            digits++;
          }
          if (digits > 0) this.pendingSeq = v;
          // the sustained bench's send number follows as `,"t":<digits>`
          if (s.startsWith(',"t":', i)) {
            i += 5;
            let t = 0;
            c = s.charCodeAt(i);
            while (c >= 48 && c <= 57) {
              t = t * 10 + (c - 48);
              c = s.charCodeAt(++i);
            }
            this.pendingT = t;
          }
        }
      }
      pos = nl + 1;
    }
    if (pos < len) this.rest = s.slice(pos);
  }

  dispatch(seq, t = -1) {
    const expected = this.last + 1;
    if (seq === expected) {
      this.last = seq;
    } else if (seq > expected) {
      this.lost += seq - expected;
      this.last = seq;
    } else {
      this.reordered++;
    }
    this.events++;
    this.onEvent(this, seq, t);
  }
}
