// The counters behind `events.stats()`, all starting at zero; and how listener results are told
// from promises.
import type { EventsStats } from '../base/types.js';

export type Counters = Omit<EventsStats, 'connections' | 'subscribers'>;

export function newCounters(): Counters {
  return {
    connectionsOpened: 0,
    eventsPublished: 0,
    eventsDelivered: 0,
    bytesDelivered: 0,
    slowClientsDropped: 0,
    publishErrors: 0,
    eventsReplayed: 0,
    streamResets: 0,
  };
}
