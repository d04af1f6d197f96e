// The request as the decision sees it: no HTTP library types, so node:http, node:http2, Express
// and a Fetch `Request` all map onto it in a few lines (see src/adapters/).

export interface RequestView {
  /** Upper-case method (`GET`, `HEAD`, …). */
  readonly method: string;
  /** Path and query as the client sent them (`/events/?channel=a`); for Express the original URL. */
  readonly url: string;
  /** A request header by lower-case name; repeated headers joined with `, `. */
  header(name: string): string | undefined;
  /** The peer's address, for logs; unknown on Fetch servers. */
  readonly remoteAddress?: string | undefined;
}

/** The query string of the view's URL, parsed; never throws. */
export function queryOf(view: RequestView): URLSearchParams {
  const url = view.url;
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/**
 * The id a reconnecting client last saw: `Last-Event-ID` header, else `?lastEventId=`. An empty
 * one is no position (EventSource sends none then), so it is not a resume either.
 */
export function lastEventIdOf(view: RequestView): string | undefined {
  return view.header('last-event-id') || queryOf(view).get('lastEventId') || undefined;
}
