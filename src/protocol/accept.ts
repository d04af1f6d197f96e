// Accept negotiation: whether a request takes text/event-stream, and how errors are answered.

/** How the request's `Accept` header relates to `text/event-stream`. */
export type AcceptVerdict =
  /** Lists `text/event-stream` (what EventSource sends): errors are answered as SSE. */
  | 'event-stream'
  /** Absent, or allows it through a wildcard (`*\/*`, `text/*`): errors are answered as plain text. */
  | 'allowed'
  /** Excludes it: 406. */
  | 'refused';

/** Classify an `Accept` header (RFC 9110 §12.5.1; the most specific matching range decides). */
export function classifyAccept(header: string | undefined): AcceptVerdict {
  if (header === undefined || header.trim() === '') return 'allowed';
  let exact: number | undefined;
  let type: number | undefined;
  let any: number | undefined;
  for (const part of header.split(',')) {
    const [rangeRaw = '', ...params] = part.split(';');
    const range = rangeRaw.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [name = '', value = ''] = param.split('=');
      if (name.trim().toLowerCase() === 'q') {
        const parsed = Number(value.trim());
        q = Number.isFinite(parsed) ? parsed : 0;
      }
    }
    if (range === 'text/event-stream') exact = Math.max(exact ?? 0, q);
    else if (range === 'text/*') type = Math.max(type ?? 0, q);
    else if (range === '*/*') any = Math.max(any ?? 0, q);
  }
  if (exact !== undefined) return exact > 0 ? 'event-stream' : 'refused';
  const fallback = type ?? any;
  return fallback !== undefined && fallback > 0 ? 'allowed' : 'refused';
}
