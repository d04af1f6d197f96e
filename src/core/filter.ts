// Per-subscriber filters: a subscriber receives only the events its filter matches. Connections
// are grouped by the filter's `key`, so a filter is evaluated once per event for all the
// connections sharing it (10,000 clients with 100 distinct filters: 100 calls per event).

import { InvalidOptionError } from '../base/errors.js';
import type { EncodedEvent } from '../base/types.js';
import { type EventView, viewOf } from './event-view.js';

/**
 * Which events of its channels a subscriber receives. Connections whose filters have the same
 * `key` share one evaluation per event, so equal keys must mean equal `match` functions.
 */
export interface EventFilter {
  /** Identifies the filter: `symbol=ACME`, `user:42`. */
  readonly key: string;
  /** True to deliver the event. A throw counts as false. */
  readonly match: (event: EventView) => boolean;
}

/** A filter as given by a handler's `filter` hook, checked: bad values name the hook. */
export function checkFilter(value: unknown): EventFilter | undefined {
  if (value === undefined) return undefined;
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as EventFilter).key !== 'string' ||
    typeof (value as EventFilter).match !== 'function'
  ) {
    throw new InvalidOptionError(
      'filter',
      'filter must return undefined or { key: string, match: (event) => boolean }',
    );
  }
  const { key, match } = value as EventFilter;
  return { key, match };
}

/** Whether `filter` passes the event with this text. */
export function passes(filter: EventFilter, view: EventView): boolean {
  try {
    return filter.match(view) === true;
  } catch {
    return false;
  }
}

/** The verdicts of one batch: each distinct filter is asked at most once per event. */
export class FilterVerdicts {
  readonly #batch: readonly EncodedEvent[];
  readonly #views: Array<EventView | undefined>;
  /** Per filter key, per event index: 0 not asked yet, 1 match, 2 no match. */
  readonly #byKey = new Map<string, Uint8Array>();

  constructor(batch: readonly EncodedEvent[]) {
    this.#batch = batch;
    this.#views = new Array(batch.length);
  }

  passes(filter: EventFilter, index: number): boolean {
    let verdicts = this.#byKey.get(filter.key);
    if (verdicts === undefined) {
      verdicts = new Uint8Array(this.#batch.length);
      this.#byKey.set(filter.key, verdicts);
    }
    const known = verdicts[index]!;
    if (known !== 0) return known === 1;
    const ev = this.#batch[index]!;
    // Control events (a bus reset) are not the app's: every subscriber gets them.
    let ok = ev.event === 'stream-reset';
    if (!ok) {
      let view = this.#views[index];
      if (view === undefined) {
        view = viewOf(ev.channel, ev.text);
        this.#views[index] = view;
      }
      ok = passes(filter, view);
    }
    verdicts[index] = ok ? 1 : 2;
    return ok;
  }
}
