// The producer's side: the copy of a UI-message SSE stream that `consumeSseStream` receives, cut
// into its events, each event's data appended to the response stream as one chunk. The SDK writes
// one `data: {json}` line per event and `data: [DONE]` last; `[DONE]` is not stored (the stream's
// own `end` event stands for it), keep-alive comments neither.
import type { ResponseStream } from 'express-eventstream';

/** Reads `sse` to its end into `stream`: `end()` when it ends, `fail()` when it errors. */
export async function teeInto(stream: ResponseStream, sse: ReadableStream<string>): Promise<void> {
  const reader = sse.getReader();
  let pending = '';
  let appending: Promise<void> = Promise.resolve();
  const append = (data: string) => {
    // Appends keep their call order in the history; only a failure needs noticing here.
    appending = stream.append(data);
    appending.catch(() => {});
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (stream.ended) {
        // Stopped: the history has its ending; the client's copy of the stream goes on alone.
        await reader.cancel().catch(() => {});
        return;
      }
      pending += value;
      let cut = pending.indexOf('\n\n');
      while (cut !== -1) {
        const data = dataOf(pending.slice(0, cut));
        pending = pending.slice(cut + 2);
        if (data !== undefined && data !== '[DONE]') append(data);
        cut = pending.indexOf('\n\n');
      }
    }
    await appending;
    await stream.end();
  } catch (err) {
    if (!stream.ended) await stream.fail(err);
  }
}

// An event's data lines joined as an EventSource joins them; undefined for a comment-only event.
function dataOf(event: string): string | undefined {
  const lines = event.split('\n').filter((line) => line.startsWith('data:'));
  if (lines.length === 0) return undefined;
  return lines.map((line) => line.slice(line.startsWith('data: ') ? 6 : 5)).join('\n');
}
