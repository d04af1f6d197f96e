// Pushpin's build-id filter gives each proxied client a Last-Event-ID it can trust. Pushpin
// delivers per channel, so on a stream of several channels a later event on one can arrive before
// an earlier event on another; one `<epoch>-<seq>` would then skip or repeat events on resume.
// With the filter, a published item's `id: %I` is replaced, per connection, by the hold's
// `id_format` filled in with that connection's last id (prev-id) on every channel: a composite id
// (history/cursor.ts) that the resume reads channel by channel.
//
// Pushpin's rules this follows (filter.cpp, httpsession.cpp, 1.36): the filter reads the prev-ids,
// so it works only in reliable mode (prev-id needs a next link); it processes every item of the
// channel and the hold and recovery bodies, where `%` starts a directive and `%%` is a `%`; an
// item whose `content-filters` differ from the hold's filters errors the connection, so every
// hold and every item of an Events object in reliable mode declare it.
import { channelSetTag, sortedChannels } from '../history/cursor.js';
import { gripChannelName } from './channel.js';

/** The filter's name, in `Grip-Channel` and in items' `content-filters`. */
export const BUILD_ID = 'build-id';

/** What Pushpin puts in place of an item's id: the connection's `id_format`, filled in. */
export const ID_DIRECTIVE = '%I';

/**
 * `id_format` for a hold on `channels`: their wire names as `%(name)s`, in sorted order behind the
 * channel set's tag; for one channel just its id, so a single-channel stream keeps plain ids.
 * Wire names never hold `)`, `\`, `%`, `"`, `,` or `;` (channel.ts), which would end the
 * directive or the quoted header value.
 */
export function idFormat(prefix: string, channels: readonly string[]): string {
  const sorted = sortedChannels(channels);
  const parts = sorted.map((c) => `%(${gripChannelName(prefix, c)})s`);
  return parts.length === 1 ? parts[0]! : `${channelSetTag(sorted)}:${parts.join('.')}`;
}

/** Text the filter passes through unchanged: every `%` doubled. */
export function escapeDirectives(text: string): string {
  return text.includes('%') ? text.replaceAll('%', '%%') : text;
}
