// `?channelField=1`: a stream whose events carry their channel (a `channel:` field before the
// `id:` line), so one stream on several channels can be split again by the client (tabs sharing a
// stream). The tagged encoding of an event is made once, when the first such stream needs it, and
// shared by every other one; streams without the flag get the event's plain bytes.
import { encodeChannelField } from '../base/encoder.js';
import type { EncodedEvent } from '../base/types.js';

const cache = new WeakMap<EncodedEvent, EncodedEvent>();

/** `ev` with its `channel:` field first, encoded once per event. */
export function tagged(ev: EncodedEvent): EncodedEvent {
  let out = cache.get(ev);
  if (out === undefined) {
    const text = encodeChannelField(ev.channel) + ev.text;
    out = { ...ev, text, bytes: Buffer.from(text) };
    cache.set(ev, out);
  }
  return out;
}
