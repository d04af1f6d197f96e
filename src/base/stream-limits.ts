// Response streams' channels in the histories: every store keeps a stream's chunks apart from the
// per-channel bound (`maxEventsPerChannel`), so an answer stays readable whole while it is
// retained. Constants only: the Redis and PostgreSQL stores import this module relatively.

/** The prefix of a response stream's chunk channel (`~stream/<id>`). */
export const STREAM_CHANNEL_PREFIX = '~stream/';

/** The most chunks `events.stream(id, { maxChunks })` accepts. */
export const MAX_STREAM_CHUNKS = 1_000_000;

/** Events a store keeps on one stream channel: every chunk a stream may have, and its end event. */
export const STREAM_CHANNEL_EVENTS = MAX_STREAM_CHUNKS + 1;
